#!/usr/bin/env bash
# Serve bench (issue 15, Acceptance 4): the admission webhook under load. Printed, never
# asserted. Everything runs here, on 127.0.0.1: a real `docker-registry` with the testbed
# images pushed and signed, a vulnerability database from ../shared/feeds, `palisade serve`
# over HTTPS (a CA and certificate made here with openssl), and `oha` as the load generator
# (installed into target/tools with `cargo install oha --locked` when missing).
#
#   1. cached: a Pod of 3 images, every decision cached. First at a fixed RATE (oha -q, 2,000
#      reviews/s by default) for DURATION: p50 and p99 at that rate (target: p99 <= 5 ms at
#      >= 2,000 reviews/s on 2 cores); then unthrottled with CONC connections: the most
#      reviews/s (the load generator shares the 2 cores).
#   2. cold: the first review of the app image (empty server caches and a fresh cache dir)
#      against a cold `palisade gate` of the same image (same policy, its own fresh cache dir):
#      the ratio (target: <= 2x).
#   3. memory: the server's VmRSS after at least 100,000 reviews answered from the cache
#      (target: <= 150 MB).
#
# Environment: DURATION=20s, RATE=2000, CONC=16, SKIP_BUILD=1, PALISADE=/path (see lib.sh), OHA=/path.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-20s}
RATE=${RATE:-2000}
CONC=${CONC:-16}
FEEDS=${FEEDS:-$REPO/../shared/feeds}
WORK=$OUT/serve

ensure_palisade
ensure_testbed
[[ -d $FEEDS ]] || die "no feeds at $FEEDS"
ensure_oha

rm -rf "$WORK"
mkdir -p "$WORK/registry" "$WORK/cache-serve" "$WORK/cache-gate" "$WORK/tls"
unset PALISADE_NO_CACHE PALISADE_ENV PALISADE_NOW PALISADE_POLICY PALISADE_DB
server_pid=
cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    bash "$REPO/testbed/registry.sh" stop "$WORK/registry" >/dev/null 2>&1 || true
}
trap cleanup EXIT

addr=$(bash "$REPO/testbed/registry.sh" start "$WORK/registry")
log "registry on $addr"
push() { skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$TESTBED/oci:$1" "docker://$addr/$2"; }
push app testbed/app:v1 && push base testbed/base:v1 && push base testbed/tools:v1 || die "skopeo copy failed"
PALISADE_PASSWORD=bench "$PALISADE" key generate --output-prefix "$WORK/release" >&2 || die "key generate failed"
for r in testbed/app:v1 testbed/base:v1 testbed/tools:v1; do
    PALISADE_PASSWORD=bench "$PALISADE" sign "$addr/$r" --key "$WORK/release.key" >&2 || die "sign failed"
done
"$PALISADE" db import --db "$WORK/vuln.db" \
    "$FEEDS/osv/PyPI/all.zip" "$FEEDS/osv/Go/all.zip" "$FEEDS/osv/crates.io/all.zip" \
    "$FEEDS/nvd/nvdcve-2.0-excerpt.json" "$FEEDS/kev/known_exploited_vulnerabilities.json" >&2 \
    || die "palisade db import failed"

cat >"$WORK/policy.yaml" <<YAML
version: 1
name: serve-bench
default_environment: prod
sources:
  keys:
    release: $WORK/release.pub
  default: deny
  rules:
    - name: local
      images: ["127.0.0.1:*/testbed/**"]
      signers: { any_of: [release] }
vulnerabilities:
  max_cvss: 8.9
  kev: deny
  max_db_age_days: 3650
hardening:
  level: 1
  include: ["CIS-DOCKER-4.*", "PSS-BASELINE-*"]
YAML

make_tls "$WORK/tls"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ops=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/serve.yaml" <<YAML
listen: 127.0.0.1:$port
ops_listen: 127.0.0.1:$ops
tls: {cert: tls/tls.crt, key: tls/tls.key}
policy: policy.yaml
db: vuln.db
cache_dir: cache-serve
decision: {budget: 25s, background_deadline: 120s}
YAML

review() { # IMAGE... -> an AdmissionReview of a Pod with these images
    python3 - "$@" <<'PY'
import json, sys
containers = [{"name": f"c{i}", "image": img} for i, img in enumerate(sys.argv[1:])]
pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bench", "namespace": "prod"},
       "spec": {"containers": containers}}
print(json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
  "request": {"uid": "bench", "kind": {"group": "", "version": "v1", "kind": "Pod"},
              "resource": {"group": "", "version": "v1", "resource": "pods"},
              "namespace": "prod", "operation": "CREATE", "userInfo": {"username": "bench"},
              "object": pod, "dryRun": False}}))
PY
}
review "$addr/testbed/app:v1" >"$WORK/app.json"
review "$addr/testbed/app:v1" "$addr/testbed/base:v1" "$addr/testbed/tools:v1" >"$WORK/pod3.json"

(cd "$WORK" && exec "$PALISADE" serve --config serve.yaml 2>"$WORK/serve.log") &
server_pid=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$ops/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$ops/readyz" >/dev/null || { cat "$WORK/serve.log" >&2; die "server not ready"; }
url=https://127.0.0.1:$port/k8s/validate
post() { curl -s --cacert "$WORK/tls/ca.crt" -H 'content-type: application/json' --data-binary "@$1" "$url"; }

log "cold: first review of the app image (server) and a cold palisade gate"
t0=$(date +%s.%N)
post "$WORK/app.json" >"$WORK/cold.json"
t1=$(date +%s.%N)
verdict=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["response"]; print("allowed" if r["allowed"] else "denied: " + r["status"]["message"][:100])' "$WORK/cold.json")
set +e
XDG_CACHE_HOME=$WORK/cache-gate "$PALISADE" gate "registry:$addr/testbed/app:v1" --policy "$WORK/policy.yaml" \
    --db "$WORK/vuln.db" --format json --output "$WORK/gate.json" 2>/dev/null
set -e
t2=$(date +%s.%N)
cold_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
gate_s=$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')

log "warming the 3-image pod"
post "$WORK/pod3.json" >/dev/null
post "$WORK/pod3.json" >"$WORK/pod3-answer.json"

log "cached at $RATE reviews/s: oha -z $DURATION -q $RATE -c $CONC"
"$OHA" -z "$DURATION" -q "$RATE" -c "$CONC" --no-tui --output-format json -m POST \
    -H 'content-type: application/json' -D "$WORK/pod3.json" --cacert "$WORK/tls/ca.crt" \
    "$url" >"$WORK/oha-rate.json" || die "oha failed"
log "cached, unthrottled: oha -z $DURATION -c $CONC"
"$OHA" -z "$DURATION" -c "$CONC" --no-tui --output-format json -m POST \
    -H 'content-type: application/json' -D "$WORK/pod3.json" --cacert "$WORK/tls/ca.crt" \
    "$url" >"$WORK/oha.json" || die "oha failed"
count() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(d["statusCodeDistribution"].values()))' "$1"; }
total=$(($(count "$WORK/oha-rate.json") + $(count "$WORK/oha.json")))
if ((total < 100000)); then
    log "memory: $((100000 - total)) more cached reviews to reach 100,000"
    "$OHA" -n "$((100000 - total))" -c "$CONC" --no-tui --output-format json -m POST \
        -H 'content-type: application/json' -D "$WORK/pod3.json" --cacert "$WORK/tls/ca.crt" \
        "$url" >"$WORK/oha-more.json" || die "oha failed"
    total=100000
fi
rss_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$server_pid/status")
hwm_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$server_pid/status")

echo "palisade serve bench ($(tree_rev), $(nproc) cores)"
python3 - "$WORK/oha.json" "$cold_s" "$gate_s" "$rss_kb" "$hwm_kb" "$total" "$verdict" "$CONC" "$WORK/oha-rate.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = json.load(open(sys.argv[9]))
cold, gate, rss, hwm, total, verdict, conc = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7], sys.argv[8]
ok = lambda c: "PASS" if c else "FAIL"
rp, rs = r["latencyPercentiles"], r["summary"]
p99 = rp["p99"] * 1000
rate = rs["requestsPerSec"]
print(f"  cached Pod of 3 images at {rate:,.0f} reviews/s: p50 {rp['p50']*1000:.2f} ms, p99 {p99:.2f} ms, status {r['statusCodeDistribution']}   target p99 <= 5 ms at >= 2,000/s   {ok(p99 <= 5 and rate >= 1990)}")
s, p = d["summary"], d["latencyPercentiles"]
print(f"  cached Pod of 3 images, unthrottled, {conc} connections: {s['requestsPerSec']:,.0f} reviews/s, p50 {p['p50']*1000:.2f} ms, p99 {p['p99']*1000:.2f} ms, status {d['statusCodeDistribution']}")
print(f"  cold app image: server {cold*1000:.0f} ms, palisade gate {gate*1000:.0f} ms, ratio {cold/gate:.2f}x   target <= 2x   {ok(cold <= 2*gate)}   ({verdict})")
print(f"  server VmRSS after {total:,} cached reviews: {rss/1024:.1f} MiB (peak {hwm/1024:.1f} MiB)   target <= 150 MB   {ok(rss*1024 <= 150e6)}")
PY
exit 0
