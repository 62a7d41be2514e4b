#!/usr/bin/env bash
# Build the images Palisade's testbed cannot make from Debian, from real data in
# ../shared/testdata (see its README.md) and the hand-written files in testbed/langs:
#
#   testbed/extra-images.sh [OUT_DIR]      (default: <repo>/target/testbed)
#
#   alpine     the official Alpine 3.18.9 minirootfs, one layer
#   almalinux  the AlmaLinux 8.9 micro rootfs (s390x, Berkeley DB rpmdb), one layer
#   langs      this host's gemspecs of Debian's ruby-rack and ruby-webrick (real gemspecs,
#              see testbed/install-deps.sh) plus testbed/langs (Gemfile.lock, Composer,
#              .NET), one layer
#
# Output, next to testbed/build-images.sh's: IMAGE.oci.tar (oci-archive, tag IMAGE) and
# IMAGE.docker.tar (docker-archive, testbed/IMAGE:latest) for each image, and
# extra-oci/ (an OCI layout with the three tags). Cached like build-images.sh: a stamp of
# the inputs (TESTBED_FORCE=1 rebuilds). Needs umoci, skopeo, xz and gzip; no network.
set -euo pipefail
umask 022
export LC_ALL=C LANG=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT=${1:-$REPO/target/testbed}
DATA=${PALISADE_TESTDATA:-$REPO/../shared/testdata}
GEMSPECS=/usr/share/rubygems-integration/all/specifications
ALPINE=$DATA/alpine/alpine-minirootfs-3.18.9-x86_64.tar.gz
ALMA=$DATA/rpm/almalinux-8.9-docker-s390x-micro.tar.xz

log() { printf '[extra-images %4ss] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'extra-images: error: %s\n' "$*" >&2; exit 1; }

for c in umoci skopeo xz gzip tar sha256sum flock; do
    command -v "$c" >/dev/null || die "missing command '$c': run testbed/install-deps.sh"
done
for f in "$ALPINE" "$ALMA"; do
    [[ -f $f ]] || die "$f is missing (PALISADE_TESTDATA names the testdata directory)"
done
gems=()
for g in rack webrick; do
    f=$(compgen -G "$GEMSPECS/$g-[0-9]*.gemspec" | head -n1) \
        || die "no $g gemspec in $GEMSPECS: run testbed/install-deps.sh"
    gems+=("${f#/}")
done

mkdir -p "$OUT"
stamp_hash() {
    {
        sha256sum "$HERE/extra-images.sh" "$ALPINE" "$ALMA"
        (cd / && sha256sum "${gems[@]}")
        (cd "$HERE" && find langs -type f | sort | xargs sha256sum)
    } | sha256sum | cut -d' ' -f1
}
HASH=$(stamp_hash)
STAMP=$OUT/.extra-stamp
up_to_date() { [[ "${TESTBED_FORCE:-0}" != 1 && -f $STAMP && "$(cat "$STAMP")" == "$HASH" ]]; }
up_to_date && { log "up to date: $OUT (stamp $HASH)"; exit 0; }

exec 9>"$OUT/.extra-images.lock"
flock 9
up_to_date && { log "up to date after waiting for another build: $OUT"; exit 0; }

WORK=$(mktemp -d "$OUT/.extra-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
LAYOUT=$WORK/oci
umoci init --layout "$LAYOUT"

# add IMAGE LAYER.tar: a new one-layer image tagged IMAGE in the work layout.
add() {
    umoci new --image "$LAYOUT:$1"
    umoci raw add-layer --image "$LAYOUT:$1" --history.created_by "testbed/extra-images.sh" "$2"
    umoci config --image "$LAYOUT:$1" --config.cmd /bin/sh >/dev/null
}

log "alpine: $ALPINE"
gzip -dc "$ALPINE" >"$WORK/alpine.tar"
add alpine "$WORK/alpine.tar"

log "almalinux: $ALMA"
xz -dc "$ALMA" >"$WORK/almalinux.tar"
add almalinux "$WORK/almalinux.tar"

log "langs: ${gems[*]} + testbed/langs"
mkdir -p "$WORK/langs"
(cd / && tar -cf - "${gems[@]}") | tar -xf - -C "$WORK/langs"
(cd "$HERE/langs" && tar -cf - --exclude=README.md .) | tar -xf - -C "$WORK/langs"
tar -cf "$WORK/langs.tar" -C "$WORK/langs" --owner=0 --group=0 --sort=name .
add langs "$WORK/langs.tar"

umoci gc --layout "$LAYOUT"
for image in alpine almalinux langs; do
    rm -f "$OUT/$image.oci.tar" "$OUT/$image.docker.tar"
    skopeo --insecure-policy copy --quiet "oci:$LAYOUT:$image" "oci-archive:$OUT/$image.oci.tar:$image"
    skopeo --insecure-policy copy --quiet "oci:$LAYOUT:$image" \
        "docker-archive:$OUT/$image.docker.tar:testbed/$image:latest"
done
rm -rf "$OUT/extra-oci"
mv "$LAYOUT" "$OUT/extra-oci"
echo "$HASH" >"$STAMP"
log "done: $OUT/{alpine,almalinux,langs}.{oci,docker}.tar and $OUT/extra-oci"
