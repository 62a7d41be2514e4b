#!/usr/bin/env bash
# Push the testbed images to a plain-HTTP registry (e.g. one from registry.sh).
#
#   testbed/push.sh ADDR [OUT_DIR]    ADDR is host:port; OUT_DIR defaults to <repo>/target/testbed
#
# Pushes oci:OUT_DIR/oci:base and :app to docker://ADDR/testbed/base:latest and
# docker://ADDR/testbed/app:latest, keeping the OCI manifests (same digests as the layout).
set -euo pipefail

[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: $0 ADDR [OUT_DIR]" >&2; exit 2; }
ADDR=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${2:-$HERE/../target/testbed}
[[ -f "$OUT/oci/index.json" ]] || { echo "push.sh: no OCI layout in $OUT/oci: run testbed/build-images.sh" >&2; exit 1; }

for tag in base app; do
    skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
        "oci:$OUT/oci:$tag" "docker://$ADDR/testbed/$tag:latest"
    echo "pushed $ADDR/testbed/$tag:latest"
done
