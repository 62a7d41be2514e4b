#!/usr/bin/env bash
# Wall time of Palisade vs. Syft on the testbed images.
#
#   perf/bench.sh [IMAGE...]        (default: base app)
#
# For each image, in ONE hyperfine run (so the ratios are measured under the same
# conditions), on the same source (FORM, default oci-archive):
#   syft              syft scan SRC -q -o syft-json
#   palisade-cold     palisade sbom SRC -f json --cache-dir FRESH   (emptied before each run)
#   palisade-nocache  palisade sbom SRC -f json --no-cache          (no cache read or write)
#   palisade-warm     palisade sbom SRC -f json --cache-dir FILLED  (filled before the runs)
# Outputs go to /dev/null. Prints the medians and the ratios palisade/syft with PASS/FAIL
# against the targets (cold ≤ 0.20 × Syft, warm ≤ 0.05 × Syft). Exits 0 whatever the
# numbers: a benchmark reports, it is not a test.
#
# Uses hyperfine (installed with apt-get when missing, unless BENCH_NO_APT=1); without it,
# perf/timing.py runs the commands interleaved and reports the median the same way.
#
# Environment: RUNS=5 (timed runs per command), WARMUP=1, FORM=oci-archive|docker-archive,
# BENCH_WAIT_IDLE=SECONDS (wait up to that long for the load average to drop below half
# the cores before each image; default 0), plus perf/lib.sh's knobs.
# Outputs: target/perf/bench/{IMAGE}.json (hyperfine JSON), {IMAGE}.txt (report).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
FORM=${FORM:-oci-archive}
IMAGES=("$@")
((${#IMAGES[@]})) || IMAGES=(base app)

ensure_syft
ensure_palisade
ensure_testbed

if ! command -v hyperfine >/dev/null && [[ ${BENCH_NO_APT:-0} != 1 ]] && command -v apt-get >/dev/null; then
    log "installing hyperfine with apt-get"
    { apt-get install -y -q hyperfine || { apt-get update -q && apt-get install -y -q hyperfine; }; } >&2 \
        || log "hyperfine not installable; using perf/timing.py"
fi

RES=$OUT/bench
mkdir -p "$RES"
COLD=$RES/cache-cold
WARM=$RES/cache-warm

echo "syft $("$SYFT" version | awk '/^Version:/ { print $2 }'), $("$PALISADE" --version) (tree $(tree_rev)), $(nproc) cores," \
    "timer: $(command -v hyperfine >/dev/null && hyperfine --version || echo 'timing.py (interleaved)')"

for image in "${IMAGES[@]}"; do
    src=$(image_source "$FORM" "$image")
    wait_idle "${BENCH_WAIT_IDLE:-0}"
    before=$(load_note)

    # Fill the warm cache (and check that both tools work on this source at all).
    rm -rf "$WARM" "$COLD"
    offline "$PALISADE" sbom "$src" -f json --cache-dir "$WARM" >/dev/null || die "palisade failed on $src"
    offline "$SYFT" scan "$src" -q -o syft-json >/dev/null || die "syft failed on $src"

    names=(syft palisade-cold palisade-nocache palisade-warm)
    cmds=(
        "$SYFT scan $src -q -o syft-json"
        "$PALISADE sbom $src -f json --cache-dir $COLD"
        "$PALISADE sbom $src -f json --no-cache"
        "$PALISADE sbom $src -f json --cache-dir $WARM"
    )
    args=()
    for i in "${!names[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done

    log "$image: timing ${#names[@]} commands, $RUNS runs each (+$WARMUP warm-up)"
    if command -v hyperfine >/dev/null; then
        # -N: no intermediate shell. --prepare runs before every timed run of every
        # command; it only matters for palisade-cold, and costs the others nothing.
        offline hyperfine -N --style basic --runs "$RUNS" --warmup "$WARMUP" \
            --prepare "rm -rf $COLD" --export-json "$RES/$image.json" "${args[@]}" \
            >"$RES/$image.hyperfine.txt" 2>&1 || { cat "$RES/$image.hyperfine.txt" >&2; die "hyperfine failed"; }
    else
        offline python3 "$BENCH_DIR/timing.py" run --runs "$RUNS" --warmup "$WARMUP" \
            --prepare "rm -rf $COLD" --export-json "$RES/$image.json" "${args[@]}"
    fi
    {
        echo
        python3 "$BENCH_DIR/timing.py" report --json "$RES/$image.json" --label "$image ($src)"
        echo "  before: $before"
        echo "  after (includes this benchmark's own load):  $(load_note)"
    } | tee "$RES/$image.txt"
done
rm -rf "$COLD"
