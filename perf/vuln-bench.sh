#!/usr/bin/env bash
# Vulnerability-scanning bench (issue 3, Acceptance 5). Prints:
#   (a) the `import_all` example's time to import all of ../shared/feeds   (target < 5 s)
#   (b) the `match_bench` example's median `match_packages` time            (target < 100 ms)
#   (c) warm `palisade scan` vs warm `palisade sbom` on the testbed app image
#       (oci-dir:target/testbed/oci:app), median of RUNS, and their ratio   (target < 1.10x)
#       The runs are split into ROUNDS that alternate the two commands, so a burst of load
#       on this shared VM lands on both; the on-CPU (user + system) ratio is printed beside,
#       and the ratio of instructions (callgrind) when valgrind is installed.
# The DB for (c) is built with `palisade db import` of the OSV zips, the NVD excerpt and KEV
# into target/perf/vuln.db. Environment: FEEDS=../shared/feeds, RUNS=5, ROUNDS=10, SKIP_BUILD=1,
# PALISADE=/path (see lib.sh). A benchmark reports: it exits 0 unless something fails to run.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FEEDS=${FEEDS:-$REPO/../shared/feeds}
RUNS=${RUNS:-5}
ROUNDS=${ROUNDS:-10}
[[ -d $FEEDS/osv ]] || die "no OSV snapshots at $FEEDS/osv"
FEEDS=$(cd "$FEEDS" && pwd)

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "cargo build --release -p palisade-vulndb --examples"
    (cd "$REPO" && cargo build --release -p palisade-vulndb --examples) >&2 || die "cargo build failed"
fi
ensure_palisade
ensure_testbed
note=$(load_note || true)
[[ -n $note ]] && log "$note"

verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v < t) ? "PASS" : "FAIL" }'; }

# (a) import
log "(a) import_all"
import_line=$("$TARGET/release/examples/import_all" "$FEEDS" "$OUT/import_all.db" 2>&1 | tail -1)
import_s=$(sed -nE 's/.*written in ([0-9.]+)(m?s) total.*/\1 \2/p' <<<"$import_line" \
    | awk '{ print ($2 == "ms") ? $1 / 1000 : $1 }')
rm -f "$OUT/import_all.db"

# (b) match_bench
log "(b) match_bench"
match_out=$("$TARGET/release/examples/match_bench" "$FEEDS" 2>&1)
match_line=$(tail -1 <<<"$match_out")
match_ms=$(sed -nE 's/.*median ([0-9.]+) ms.*/\1/p' <<<"$match_line")
match_cpu_ms=$(sed -nE 's/^on-CPU time.*median ([0-9.]+) ms.*/\1/p' <<<"$match_out")

# (c) scan vs sbom, warm
log "(c) palisade db import -> $OUT/vuln.db"
"$PALISADE" db import --db "$OUT/vuln.db" \
    "$FEEDS/osv/PyPI/all.zip" "$FEEDS/osv/Go/all.zip" "$FEEDS/osv/crates.io/all.zip" \
    "$FEEDS/nvd/nvdcve-2.0-excerpt.json" "$FEEDS/kev/known_exploited_vulnerabilities.json" >&2 \
    || die "palisade db import failed"
src="oci-dir:$TESTBED/oci:app"
scan_cmd="$PALISADE scan --db $OUT/vuln.db --format json --output /dev/null $src"
sbom_cmd="$PALISADE sbom $src"
per_round=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
jsons=()
for ((round = 1; round <= ROUNDS; round++)); do
    json=$OUT/vuln-scan-vs-sbom.$round.json
    jsons+=("$json")
    if command -v hyperfine >/dev/null; then
        hyperfine -N --warmup 2 --runs "$per_round" --export-json "$json" \
            -n sbom "$sbom_cmd" -n scan "$scan_cmd" >&2 || die "hyperfine failed"
    else
        python3 "$BENCH_DIR/timing.py" run --runs "$per_round" --warmup 2 --export-json "$json" \
            -n sbom "$sbom_cmd" -n scan "$scan_cmd" || die "timing failed"
    fi
done
# Pooled over the rounds: the median wall time of each command, and the mean on-CPU time
# (timing.py records no CPU times; then the CPU ratio is "nan").
read -r sbom_s scan_s sbom_cpu scan_cpu < <(python3 - "${jsons[@]}" <<'PY'
import json, statistics, sys
times, cpu = {}, {}
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        name = r["command"]
        times.setdefault(name, []).extend(r.get("times") or [r["median"]])
        if "user" in r and "system" in r:
            cpu.setdefault(name, []).append(r["user"] + r["system"])
med = {k: statistics.median(v) for k, v in times.items()}
c = {k: statistics.mean(v) for k, v in cpu.items()}
print(med["sbom"], med["scan"], c.get("sbom", "nan"), c.get("scan", "nan"))
PY
)
# The same two commands counted in instructions by callgrind, when valgrind is installed: a
# figure this VM's load cannot move (one run each, after the warm runs above).
instr() {
    local out
    out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null) || return 1
    sed -nE 's/.*Collected : ([0-9]+).*/\1/p' <<<"$out"
}
instr_ratio=nan
if command -v valgrind >/dev/null; then
    log "(c) callgrind instruction counts"
    # shellcheck disable=SC2086 # the commands are word lists, as hyperfine -N reads them
    if sbom_i=$(instr $sbom_cmd) && scan_i=$(instr $scan_cmd) && [[ -n $sbom_i && -n $scan_i ]]; then
        instr_ratio=$(awk -v a="$scan_i" -v b="$sbom_i" 'BEGIN { printf "%.3f", a / b }')
    fi
fi
ratio=$(awk -v a="$scan_s" -v b="$sbom_s" 'BEGIN { printf "%.3f", a / b }')
cpu_ratio=$(awk -v a="$scan_cpu" -v b="$sbom_cpu" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }')

echo "palisade vuln bench ($(tree_rev), $(nproc) cores)"
printf '(a) import all feeds (import_all):     %8.2f s    target < 5 s      %s\n' \
    "${import_s:-nan}" "$(verdict "${import_s:-1e9}" 5)"
printf '(b) match_packages, 5,000 packages:    %8.1f ms   target < 100 ms   %s\n' \
    "${match_ms:-nan}" "$(verdict "${match_ms:-1e9}" 100)"
printf '    (on-CPU time of the same runs:     %8.1f ms)\n' "${match_cpu_ms:-nan}"
runs=$((per_round * ROUNDS))
printf '(c) warm sbom (median of %d):          %8.2f ms\n' "$runs" "$(awk -v s="$sbom_s" 'BEGIN { print s * 1000 }')"
printf '    warm scan (median of %d):          %8.2f ms\n' "$runs" "$(awk -v s="$scan_s" 'BEGIN { print s * 1000 }')"
printf '    scan / sbom:                       %8.3fx    target < 1.10x    %s\n' \
    "$ratio" "$(verdict "$ratio" 1.10)"
printf '    (on-CPU scan / sbom:               %8sx)\n' "$cpu_ratio"
printf '    (instructions scan / sbom:         %8sx, callgrind)\n' "$instr_ratio"
echo "    ($match_line)"
[[ -n $note ]] && echo "$note"
exit 0
