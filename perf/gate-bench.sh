#!/usr/bin/env bash
# Gate bench (issue 6, Acceptance 4): a `palisade gate` decision for an already-scanned image
# (warm caches) in < 50 ms. The image is the testbed `app`, pushed to a real local
# `docker-registry` started here (127.0.0.1, its own port, stopped on exit) and signed with a
# key made here; the vulnerability database is imported from ../shared/feeds (OSV PyPI, Go,
# crates.io, the NVD excerpt, KEV). The policy sets every section:
#   sources          trusted registry glob + required signer (signature looked up and verified
#                    over HTTP on every run: nothing about signatures is cached)
#   vulnerabilities  max_cvss 8.9 with a dev override, KEV deny, DB age
#   hardening        level 1 image checks
#   exceptions       one, covering part of the findings
#   rules            one Rego rule (image age)
# One cold run fills the layer, scan-result and hardening caches; then RUNS warm runs are
# timed (median). The decision is `deny` (the app has critical findings): exit code 1 is
# expected and checked once.
#
# Environment: RUNS=20, SKIP_BUILD=1, PALISADE=/path (see lib.sh). CARGO_TARGET_DIR is
# honoured when building. Exits 0 unless something fails to run.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${RUNS:-20}
FEEDS=${FEEDS:-$REPO/../shared/feeds}
WORK=$OUT/gate

if [[ -z ${PALISADE:-} && -n ${CARGO_TARGET_DIR:-} ]]; then
    if [[ ${SKIP_BUILD:-0} != 1 ]]; then
        log "cargo build --release -p palisade-cli (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
        (cd "$REPO" && cargo build --release -p palisade-cli) >&2 || die "cargo build failed"
    fi
    PALISADE=$CARGO_TARGET_DIR/release/palisade
fi
ensure_palisade
ensure_testbed
[[ -d $FEEDS ]] || die "no feeds at $FEEDS"

rm -rf "$WORK"
mkdir -p "$WORK/registry" "$WORK/cache"
export XDG_CACHE_HOME=$WORK/cache
unset PALISADE_NO_CACHE PALISADE_ENV PALISADE_NOW PALISADE_POLICY PALISADE_DB

addr=$(bash "$REPO/testbed/registry.sh" start "$WORK/registry")
trap 'bash "$REPO/testbed/registry.sh" stop "$WORK/registry" >/dev/null 2>&1 || true' EXIT
log "registry on $addr"
skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
    "oci:$TESTBED/oci:app" "docker://$addr/testbed/app:v1" || die "skopeo copy failed"
PALISADE_PASSWORD=bench "$PALISADE" key generate --output-prefix "$WORK/release" >&2 \
    || die "key generate failed"
PALISADE_PASSWORD=bench "$PALISADE" sign "$addr/testbed/app:v1" --key "$WORK/release.key" >&2 \
    || die "sign failed"

log "palisade db import -> $WORK/vuln.db"
"$PALISADE" db import --db "$WORK/vuln.db" \
    "$FEEDS/osv/PyPI/all.zip" "$FEEDS/osv/Go/all.zip" "$FEEDS/osv/crates.io/all.zip" \
    "$FEEDS/nvd/nvdcve-2.0-excerpt.json" "$FEEDS/kev/known_exploited_vulnerabilities.json" >&2 \
    || die "palisade db import failed"

cat >"$WORK/age.rego" <<'REGO'
package palisade.rules.age

import rego.v1

deny contains msg if {
	created := time.parse_rfc3339_ns(input.image.created)
	now := time.parse_rfc3339_ns(input.now)
	days := floor((now - created) / (((24 * 60) * 60) * 1000000000))
	days > 3650
	msg := sprintf("image is %v days old", [days])
}
REGO
cat >"$WORK/policy.yaml" <<YAML
version: 1
name: bench
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
  environments:
    dev: { max_cvss: null }
hardening:
  level: 1
exceptions:
  - name: urllib3-accepted
    packages: [urllib3]
    reason: bench
    approved_by: bench@example.com
    expires: 2099-12-31
rules:
  - name: max-image-age
    file: age.rego
YAML

gate_cmd="$PALISADE gate registry:$addr/testbed/app:v1 --policy $WORK/policy.yaml --db $WORK/vuln.db --format json --output $WORK/decision.json"
log "cold run: $gate_cmd"
set +e
# shellcheck disable=SC2086 # a word list without spaces in paths
$gate_cmd
code=$?
set -e
((code == 1)) || die "expected the gate to deny (exit 1), got $code"
summary=$(python3 - "$WORK/decision.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ev = ", ".join(k for k, v in d["evaluated"].items() if v)
s = d["summary"]
print(f"  decision {d['decision']}: {s['deny']} deny, {s['warn']} warn, {s['excepted']} excepted; evaluated: {ev}")
PY
) || die "reading the decision failed"

json=$WORK/timing.json
log "timing (median of $RUNS warm runs, 2 warm-ups)"
# The gate exits 1 (deny) by design: -i / --ignore-failure keeps the timing going.
if command -v hyperfine >/dev/null; then
    hyperfine -N -i --warmup 2 --runs "$RUNS" --export-json "$json" -n gate "$gate_cmd" >&2 \
        || die "hyperfine failed"
else
    python3 "$BENCH_DIR/timing.py" run --ignore-failure --runs "$RUNS" --warmup 2 \
        --export-json "$json" -n gate "$gate_cmd" || die "timing failed"
fi
gate_s=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$json")
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v < t) ? "PASS" : "FAIL" }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }

echo "palisade gate bench ($(tree_rev), $(nproc) cores, median of $RUNS warm runs)"
printf '  gate (signature check over HTTP, scan, hardening, 1 Rego rule): %6s ms   target < 50 ms   %s\n' \
    "$(ms "$gate_s")" "$(verdict "$gate_s" 0.05)"
echo "$summary"
exit 0
