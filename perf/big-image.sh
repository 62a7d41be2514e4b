#!/usr/bin/env bash
# Peak memory (RSS) and wall time of `palisade sbom` on a > 1 GB image.
#
#   perf/big-image.sh
#
# Generates, once (cached by a stamp over this script and its parameters), an OCI layout
# target/perf/big/oci with tag `big`: LAYERS layers (default 4) of about LAYER_MB MiB
# (default 260) uncompressed each, so ≥ 1 GB in all. Each layer holds
#   - data/lN/big.bin (LAYER_MB/2 MiB) and data/lN/blob-K.bin (16 MiB each): incompressible
#     pseudo-random bytes (AES-128-CTR keystream from `openssl enc`, fixed key: reproducible);
#   - SMALL_FILES (default 3000) small text files in 30 directories;
#   - layer 0: /var/lib/dpkg/status and os-release copied from the testbed base root
#     (88 packages), layer 1: 20 Python dist-info dirs, layer 2: 20 node_modules packages,
#     layer 3: a whiteout deleting one of layer 0's blobs.
# Tars are reproducible (GNU tar, sorted, fixed mtimes/owners); umoci gzips them.
#
# Then runs, offline (no network but loopback):
#   /usr/bin/time -v palisade sbom oci-dir:target/perf/big/oci:big --no-cache -f json > FILE
# and prints the "Maximum resident set size" and wall-clock lines with PASS/FAIL against the
# 100 MB goal (also for a run that writes a fresh cache, and a warm run). With BIG_SYFT=1
# (default) it also times Syft on the same layout for scale. Exits 0 whatever the numbers.
#
# Environment: LAYERS=4 LAYER_MB=260 SMALL_FILES=3000 RSS_GOAL_MB=100 BIG_SYFT=1|0
# BIG_FORCE=1 (regenerate), plus perf/lib.sh's knobs.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LAYERS=${LAYERS:-4}
LAYER_MB=${LAYER_MB:-260}
SMALL_FILES=${SMALL_FILES:-3000}
RSS_GOAL_MB=${RSS_GOAL_MB:-100}
BIG_SYFT=${BIG_SYFT:-1}
EPOCH=1704067200 # 2024-01-01T00:00:00Z

BIG=$OUT/big
LAYOUT=$BIG/oci
TAG=big

ensure_palisade
[[ $BIG_SYFT == 1 ]] && ensure_syft
ensure_testbed
for c in umoci openssl tar sha256sum; do command -v $c >/dev/null || die "$c is needed"; done
ROOTFS=$TESTBED/base-rootfs
[[ -f $ROOTFS/var/lib/dpkg/status ]] || die "$ROOTFS/var/lib/dpkg/status missing"

iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

repro_tar() {
    local out=$1 dir=$2; shift 2
    tar --create --file="$out" --directory="$dir" --sort=name --format=pax \
        --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner "$@"
}

# N bytes of AES-CTR keystream (key fixed, IV from SEED) into FILE.
prng() {
    local file=$1 bytes=$2 seed=$3
    openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
        -iv "$(printf '%032x' "$seed")" -in /dev/zero 2>/dev/null | head -c "$bytes" >"$file" || true
    [[ $(stat -c %s "$file") == "$bytes" ]] || die "short PRNG output for $file"
}

# Fills staging dir DIR with layer number I.
make_layer() {
    local dir=$1 i=$2 mib=$((1024 * 1024))
    local d=$dir/data/l$i big=$((LAYER_MB / 2)) k
    mkdir -p "$d"
    prng "$d/big.bin" $((big * mib)) $((i * 1000))
    local rest=$((LAYER_MB - big - 4)) # ~4 MiB go to the small files
    for ((k = 0; rest > 0; k++)); do
        local n=$((rest < 16 ? rest : 16))
        prng "$d/blob-$(printf %02d $k).bin" $((n * mib)) $((i * 1000 + k + 1))
        rest=$((rest - n))
    done
    python3 - "$dir" "$i" "$SMALL_FILES" <<'EOF'
import hashlib, os, sys
root, layer, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for n in range(count):
    d = os.path.join(root, "data", f"l{layer}", "small", f"d{n % 30:02d}")
    os.makedirs(d, exist_ok=True)
    h = hashlib.sha256(f"{layer}/{n}".encode()).hexdigest()
    # 1-2 KiB: a few lines of hex, half-compressible like config/source files
    body = (f"file {n} of layer {layer}\n" + (h + "\n") * (16 + n % 16)).encode()
    with open(os.path.join(d, f"f{n:05d}.txt"), "wb") as f:
        f.write(body)
if layer == 1:
    sp = os.path.join(root, "usr/local/lib/python3.11/site-packages")
    for n in range(20):
        di = os.path.join(sp, f"bigbench_py_{n:02d}-1.{n}.0.dist-info")
        os.makedirs(di)
        with open(os.path.join(di, "METADATA"), "w") as f:
            f.write(f"Metadata-Version: 2.1\nName: bigbench-py-{n:02d}\nVersion: 1.{n}.0\n\n")
if layer == 2:
    nm = os.path.join(root, "app/node_modules")
    for n in range(20):
        di = os.path.join(nm, f"bigbench-js-{n:02d}")
        os.makedirs(di)
        with open(os.path.join(di, "package.json"), "w") as f:
            f.write('{"name": "bigbench-js-%02d", "version": "2.%d.0"}\n' % (n, n))
EOF
    case $i in
        0)
            mkdir -p "$dir/var/lib/dpkg" "$dir/etc" "$dir/usr/lib"
            cp "$ROOTFS/var/lib/dpkg/status" "$dir/var/lib/dpkg/status"
            cp "$ROOTFS/usr/lib/os-release" "$dir/usr/lib/os-release"
            ln -s ../usr/lib/os-release "$dir/etc/os-release"
            ;;
        3) mkdir -p "$dir/data/l0" && : >"$dir/data/l0/.wh.blob-00.bin" ;;
    esac
}

generate() {
    local build tops i started=$SECONDS total=0
    rm -rf "$BIG"/.build.*
    build=$(mktemp -d "$BIG/.build.XXXXXX")
    local L=$build/oci
    umoci init --layout "$L"
    umoci new --image "$L:$TAG"
    for ((i = 0; i < LAYERS; i++)); do
        local stage=$build/stage tarf=$build/layer.tar
        rm -rf "$stage"
        mkdir -p "$stage"
        log "layer $i: generating files"
        make_layer "$stage" "$i"
        mapfile -t tops < <(cd "$stage" && ls -A)
        repro_tar "$tarf" "$stage" "${tops[@]}"
        rm -rf "$stage"
        total=$((total + $(stat -c %s "$tarf")))
        log "layer $i: umoci raw add-layer ($(($(stat -c %s "$tarf") / 1024 / 1024)) MiB tar)"
        umoci raw add-layer --image "$L:$TAG" \
            --history.created "$(iso $((EPOCH + i)))" \
            --history.created_by "perf/big-image.sh layer $i" "$tarf"
        rm -f "$tarf"
    done
    umoci config --image "$L:$TAG" --created "$(iso "$EPOCH")" \
        --config.cmd /bin/true --no-history
    umoci gc --layout "$L"
    printf 'layers=%s uncompressed_bytes=%s generated_in_s=%s\n' "$LAYERS" "$total" $((SECONDS - started)) \
        >"$build/info"
    rm -rf "$LAYOUT" "$BIG/info"
    mv "$L" "$LAYOUT"
    mv "$build/info" "$BIG/info"
    rm -rf "$build"
}

mkdir -p "$BIG"
stamp=$( { cat "$0"; echo "$LAYERS $LAYER_MB $SMALL_FILES"; sha256sum "$ROOTFS/var/lib/dpkg/status"; } | sha256sum | cut -d' ' -f1)
if [[ ${BIG_FORCE:-0} != 1 && -f $BIG/.stamp && $(cat "$BIG/.stamp") == "$stamp" && -f $LAYOUT/index.json ]]; then
    log "using cached $LAYOUT ($(cat "$BIG/info"))"
else
    log "generating $LAYOUT: $LAYERS layers of ~$LAYER_MB MiB"
    rm -f "$BIG/.stamp"
    t0=$SECONDS
    generate
    echo "$stamp" >"$BIG/.stamp"
    log "generated in $((SECONDS - t0)) s"
fi

# Sizes, from the layout itself.
read -r uncompressed <<<"$(sed -n 's/.*uncompressed_bytes=\([0-9]*\).*/\1/p' "$BIG/info")"
compressed=$(python3 - "$LAYOUT" "$TAG" <<'EOF'
import json, os, sys
L, tag = sys.argv[1], sys.argv[2]
def blob(d): return os.path.join(L, "blobs", *d.split(":"))
idx = json.load(open(os.path.join(L, "index.json")))
m = next(m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
man = json.load(open(blob(m["digest"])))
print(sum(l["size"] for l in man["layers"]), len(man["layers"]))
EOF
)
read -r comp_bytes nlayers <<<"$compressed"
SRC=oci-dir:$LAYOUT:$TAG
echo "palisade: $("$PALISADE" --version) (tree $(tree_rev))"
echo "image: $SRC"
awk -v n="$nlayers" -v u="$uncompressed" -v c="$comp_bytes" 'BEGIN {
    printf "  %d layers, %.2f GB uncompressed (%.0f MiB), %.2f GB compressed\n", n, u / 1e9, u / 1048576, c / 1e9 }'
echo "  $(load_note)"

# measure NAME CMD...: /usr/bin/time -v of CMD (stdout to target/perf/big/NAME.out),
# prints the RSS and wall-clock lines.
measure() {
    local name=$1; shift
    local tv=$BIG/$name.time
    if ! offline /usr/bin/time -v -o "$tv" "$@" >"$BIG/$name.out" 2>"$BIG/$name.err"; then
        cat "$BIG/$name.err" >&2
        die "$name failed"
    fi
    local rss_line wall_line kb
    rss_line=$(grep 'Maximum resident set size' "$tv" | sed 's/^[[:space:]]*//')
    wall_line=$(grep 'Elapsed (wall clock) time' "$tv" | sed 's/^[[:space:]]*//')
    kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tv")
    echo "$name: $*"
    echo "  $rss_line  (= $(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }') MiB)"
    echo "  $wall_line"
    RSS_KB=$kb
}

verdict() {
    awk -v k="$1" -v g="$RSS_GOAL_MB" 'BEGIN { printf "%s", (k * 1024 < g * 1000 * 1000) ? "PASS" : "FAIL" }'
}

echo
measure palisade-nocache "$PALISADE" sbom "$SRC" --no-cache -f json
echo "  peak RSS goal < $RSS_GOAL_MB MB: $(verdict "$RSS_KB")"
python3 - "$BIG/palisade-nocache.out" <<'EOF'
import collections, json, sys
d = json.load(open(sys.argv[1]))
c = collections.Counter(p["ecosystem"] for p in d["packages"])
print("  packages found: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
      + " (expected: deb 88, npm 20, python 20)")
EOF

echo
rm -rf "$BIG/cache"
measure palisade-cold "$PALISADE" sbom "$SRC" --cache-dir "$BIG/cache" -f json
echo "  peak RSS goal < $RSS_GOAL_MB MB: $(verdict "$RSS_KB")"
echo
measure palisade-warm "$PALISADE" sbom "$SRC" --cache-dir "$BIG/cache" -f json
echo "  peak RSS goal < $RSS_GOAL_MB MB: $(verdict "$RSS_KB")"
rm -rf "$BIG/cache"

if [[ $BIG_SYFT == 1 ]]; then
    echo
    measure syft "$SYFT" scan "oci-dir:$LAYOUT" -q -o syft-json
    echo "  (for scale; Syft's oci-dir takes a one-image layout, as this one is)"
    echo
    python3 "$BENCH_DIR/compare.py" --label "big image: Syft vs Palisade packages" \
        --syft "$BIG/syft.out" --palisade "$BIG/palisade-nocache.out" || true
fi
