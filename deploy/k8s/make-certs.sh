#!/usr/bin/env bash
# Makes a CA and a serving certificate for the webhook Service, writes the TLS Secret and puts
# the CA into both webhook configurations.
#
#   deploy/k8s/make-certs.sh OUT_DIR [NAMESPACE] [SERVICE]
#
# Writes OUT_DIR/{ca.crt,ca.key,tls.crt,tls.key}, OUT_DIR/secret.yaml (Secret palisade-tls) and
# OUT_DIR/webhooks.yaml (webhooks.yaml with caBundle filled in). Apply with
#   kubectl apply -f deploy/k8s/namespace.yaml -f OUT_DIR/secret.yaml -f deploy/k8s/config.yaml \
#     -f deploy/k8s/deployment.yaml -f OUT_DIR/webhooks.yaml
# Keep ca.key offline; the server reloads tls.crt and tls.key when the Secret changes, so a new
# certificate signed by the same CA needs no restart and no webhook change.
set -euo pipefail
out=${1:?usage: make-certs.sh OUT_DIR [NAMESPACE] [SERVICE]}
ns=${2:-palisade}
svc=${3:-palisade}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=palisade webhook CA" -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=$svc.$ns.svc" -keyout "$out/tls.key" -out "$out/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s,DNS:%s.%s,DNS:%s.%s.svc,DNS:%s.%s.svc.cluster.local\nextendedKeyUsage=serverAuth\n' \
    "$svc" "$svc" "$ns" "$svc" "$ns" "$svc" "$ns" >"$out/ext.cnf"
openssl x509 -req -in "$out/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
    -days 825 -extfile "$out/ext.cnf" -out "$out/tls.crt" 2>/dev/null
rm -f "$out/tls.csr" "$out/ext.cnf" "$out/ca.srl"
b64() { base64 <"$1" | tr -d '\n'; }
cat >"$out/secret.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: palisade-tls
  namespace: $ns
type: kubernetes.io/tls
data:
  tls.crt: $(b64 "$out/tls.crt")
  tls.key: $(b64 "$out/tls.key")
YAML
sed "s/CA_BUNDLE/$(b64 "$out/ca.crt")/" "$here/webhooks.yaml" >"$out/webhooks.yaml"
echo "wrote $out/secret.yaml and $out/webhooks.yaml (CA: $out/ca.crt)"
