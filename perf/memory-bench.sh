#!/usr/bin/env bash
# Peak memory (RSS) of `palisade sbom -f json --no-cache` against the ≤ 64 MiB goal of
# issue 17 (acceptance 3). Not a timed test: it prints one PASS/FAIL line per image.
#
#   perf/memory-bench.sh
#
# Images:
#   1. the testbed app image, oci-archive:target/testbed/app.oci.tar (built by
#      testbed/build-images.sh when missing);
#   2. a generated one-layer image with a 1 GiB file at a cataloger path,
#      var/lib/dpkg/status.d/x (a dpkg status file by its path);
#   3. the same with the 1 GiB file at an executable-like path, usr/local/bin/big, starting
#      with the ELF magic (so it is looked into as an executable).
# The 1 GiB files are pseudo-random (AES-128-CTR keystream, fixed key: reproducible), so they
# do not compress and the layer-expansion guard (200×) never stops the read: the scan has to
# get past them on its own. Generated layouts are cached under target/perf/memory/ by a stamp
# over this script; MEM_FORCE=1 regenerates them.
#
# Each run is `offline /usr/bin/time -v palisade sbom SRC -f json --no-cache`; the script prints
# the "Maximum resident set size" line, the verdict and what the SBOM / stderr said.
# Exits 0 whatever the numbers (it measures; it does not gate).
#
# Environment: RSS_GOAL_MIB=64 BIG_MIB=1024 MEM_FORCE=1, plus perf/lib.sh's knobs
# (SKIP_BUILD=1, PALISADE=/path, TESTBED=DIR).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RSS_GOAL_MIB=${RSS_GOAL_MIB:-64}
BIG_MIB=${BIG_MIB:-1024}
EPOCH=1704067200 # 2024-01-01T00:00:00Z
MEM=$OUT/memory

ensure_palisade
ensure_testbed
for c in umoci openssl tar; do command -v $c >/dev/null || die "$c is needed"; done
mkdir -p "$MEM"

iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# make_image NAME PATH-IN-IMAGE ELF(0|1): an OCI layout $MEM/NAME with tag `big` and one layer
# holding a BIG_MIB MiB pseudo-random file at PATH-IN-IMAGE (ELF=1: its first bytes are the
# ELF magic).
make_image() {
    local name=$1 rel=$2 elf=$3
    local layout=$MEM/$name stamp
    stamp=$( { cat "$0"; echo "$name $rel $elf $BIG_MIB"; } | sha256sum | cut -d' ' -f1)
    if [[ ${MEM_FORCE:-0} != 1 && -f $layout.stamp && $(cat "$layout.stamp") == "$stamp" \
        && -f $layout/index.json ]]; then
        log "using cached $layout"
        return
    fi
    log "generating $layout: a $BIG_MIB MiB file at /$rel"
    rm -rf "$layout" "$layout.stamp" "$MEM/.build"
    local build=$MEM/.build stage=$MEM/.build/stage
    mkdir -p "$stage/$(dirname "$rel")"
    {
        [[ $elf == 1 ]] && printf '\177ELF\002\001\001\000'
        openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
            -iv "$(printf '%032x' 17)" -in /dev/zero 2>/dev/null || true
    } | head -c $((BIG_MIB * 1024 * 1024)) >"$stage/$rel"
    [[ $(stat -c %s "$stage/$rel") == $((BIG_MIB * 1024 * 1024)) ]] || die "short output for $rel"
    [[ $elf == 1 ]] && chmod 0755 "$stage/$rel"
    tar --create --file="$build/layer.tar" --directory="$stage" --sort=name --format=pax \
        --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner "${rel%%/*}"
    rm -rf "$stage"
    umoci init --layout "$build/oci"
    umoci new --image "$build/oci:big"
    umoci raw add-layer --image "$build/oci:big" --history.created "$(iso "$EPOCH")" \
        --history.created_by "perf/memory-bench.sh $name" "$build/layer.tar"
    umoci config --image "$build/oci:big" --created "$(iso "$EPOCH")" --config.cmd /bin/true \
        --no-history
    umoci gc --layout "$build/oci"
    mv "$build/oci" "$layout"
    rm -rf "$build"
    echo "$stamp" >"$layout.stamp"
}

make_image dpkg-status-1g var/lib/dpkg/status.d/x 0
make_image executable-1g usr/local/bin/big 1

echo "palisade: $("$PALISADE" --version) (tree $(tree_rev))"
echo "$(load_note)"
echo "goal: peak RSS ≤ $RSS_GOAL_MIB MiB for each run of: /usr/bin/time -v palisade sbom SRC -f json --no-cache"
echo

# measure NAME SRC: one run; prints the RSS line, the verdict, and the package count and
# warnings (lines of stderr naming the big file).
measure() {
    local name=$1 src=$2 tv=$MEM/$1.time kb
    if ! offline /usr/bin/time -v -o "$tv" "$PALISADE" sbom "$src" -f json --no-cache \
        >"$MEM/$name.out" 2>"$MEM/$name.err"; then
        cat "$MEM/$name.err" >&2
        echo "$name: palisade sbom $src failed: FAIL"
        return
    fi
    kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tv")
    local verdict
    verdict=$(awk -v k="$kb" -v g="$RSS_GOAL_MIB" 'BEGIN { print (k <= g * 1024) ? "PASS" : "FAIL" }')
    printf '%-16s %-55s peak RSS %6.1f MiB (%s kB)  %s\n' "$name" "$src" \
        "$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')" "$kb" "$verdict"
    python3 - "$MEM/$name.out" <<'EOF'
import collections, json, sys
d = json.load(open(sys.argv[1]))
c = collections.Counter(p["ecosystem"] for p in d["packages"])
print("    packages: " + (", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"))
EOF
    grep -E 'status\.d/x|local/bin/big|limit' "$MEM/$name.err" | head -3 | sed 's/^/    stderr: /' || true
}

measure testbed-app "oci-archive:$TESTBED/app.oci.tar"
measure dpkg-status-1g "oci-dir:$MEM/dpkg-status-1g:big"
measure executable-1g "oci-dir:$MEM/executable-1g:big"
