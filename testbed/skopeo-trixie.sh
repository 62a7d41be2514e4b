#!/usr/bin/env bash
# skopeo 1.18 from Debian trixie, for sigstore interoperability tests: bookworm's skopeo 1.9
# has its sigstore support patched out ("Debian-local change: sigstore disabled").
#
#   testbed/skopeo-trixie.sh build          build the trixie root once (cached); prints its path
#   testbed/skopeo-trixie.sh run DIR... -- SKOPEO-ARGS...
#                                           run `skopeo SKOPEO-ARGS` inside the root, with each
#                                           DIR bind-mounted at the same path (so paths in the
#                                           arguments work unchanged); /proc is mounted too
#
# The root lives in $TRIXIE_ROOT (default <repo>/target/testbed/trixie-root); it is built with
# mmdebstrap (--variant=apt, skopeo + ca-certificates, ~240 MB, ~20 s) from $DEBIAN_MIRROR
# (default: the Debian mirror apt is configured with). Needs root (mmdebstrap --mode=root,
# chroot and mounts in a private mount namespace made by unshare, so nothing leaks to the host).
# The network namespace is the host's: a registry on 127.0.0.1 is reachable from inside.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=${TRIXIE_ROOT:-$HERE/../target/testbed/trixie-root}
READY=.palisade-trixie-ready

usage() { echo "usage: $0 build | run DIR... -- SKOPEO-ARGS..." >&2; exit 2; }

mirror() {
    if [[ -n ${DEBIAN_MIRROR:-} ]]; then echo "$DEBIAN_MIRROR"; return; fi
    local m
    m=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list 2>/dev/null \
        | grep -oE 'https?://[^ ]+/debian/?' | grep -v security | head -n 1 || true)
    echo "${m:-http://deb.debian.org/debian}"
}

build() {
    [[ $(id -u) == 0 ]] || { echo "skopeo-trixie.sh: must run as root" >&2; exit 1; }
    command -v mmdebstrap >/dev/null || { echo "skopeo-trixie.sh: mmdebstrap missing: run testbed/install-deps.sh" >&2; exit 1; }
    mkdir -p "$(dirname "$ROOT")"
    exec 9>"$ROOT.lock"
    flock 9
    if [[ -f "$ROOT/$READY" ]]; then
        cd "$ROOT" && pwd
        return 0
    fi
    rm -rf "$ROOT" "$ROOT.tmp"
    local m
    m=$(mirror)
    echo "skopeo-trixie.sh: building a trixie root with skopeo from $m" >&2
    mmdebstrap --quiet --variant=apt --include=skopeo,ca-certificates \
        trixie "$ROOT.tmp" "deb $m trixie main" >&2
    chroot "$ROOT.tmp" skopeo --version >&2
    touch "$ROOT.tmp/$READY"
    mv "$ROOT.tmp" "$ROOT"
    cd "$ROOT" && pwd
}

run() {
    local dirs=()
    while [[ $# -gt 0 && $1 != -- ]]; do
        dirs+=("$(cd "$1" && pwd)")
        shift
    done
    [[ $# -gt 0 ]] || usage
    shift
    [[ -f "$ROOT/$READY" ]] || { echo "skopeo-trixie.sh: no trixie root at $ROOT: run '$0 build'" >&2; exit 1; }
    local root
    root=$(cd "$ROOT" && pwd)
    # In a private mount namespace: bind the directories, mount proc, chroot, run skopeo.
    unshare --mount --propagation private -- bash -euo pipefail -c '
        root=$1; shift
        dirs=()
        while [[ $1 != -- ]]; do dirs+=("$1"); shift; done
        shift
        for d in "${dirs[@]}"; do
            mkdir -p "$root$d"
            mount --bind "$d" "$root$d"
        done
        mount -t proc proc "$root/proc"
        exec chroot "$root" /usr/bin/skopeo "$@"
    ' bash "$root" "${dirs[@]}" -- "$@"
}

[[ $# -ge 1 ]] || usage
cmd=$1
shift
case $cmd in
    build) build ;;
    run) run "$@" ;;
    *) usage ;;
esac
