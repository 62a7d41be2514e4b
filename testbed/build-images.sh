#!/usr/bin/env bash
# Build Palisade's real test images without a Docker engine.
#
#   testbed/build-images.sh [OUT_DIR]      (default: <repo>/target/testbed)
#
# Needs root and the tools from testbed/install-deps.sh; installs nothing itself.
# Network: only the Debian mirror apt is configured with (mmdebstrap), PyPI (pip)
# and the npm registry (npm). Cached: when OUT_DIR/.stamp holds the hash of the
# files that produce the output, it exits at once. TESTBED_FORCE=1 rebuilds anyway.
#
# Output (see testbed/README.md):
#   oci/                OCI image layout, tags `base` and `app`
#   base.oci.tar app.oci.tar           oci-archive exports
#   base.docker.tar app.docker.tar     docker-archive exports (testbed/base:latest, testbed/app:latest)
#   multi.docker.tar                   one docker-archive holding both images
#   base-rootfs/                       the base root filesystem, unpacked
#   expected/                          ground truth from independent tools
#   .stamp                             hash of the producing files
set -euo pipefail
umask 022
export LC_ALL=C LANG=C
export DEBIAN_FRONTEND=noninteractive

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT=${1:-$REPO/target/testbed}
mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
PARENT=$(dirname "$OUT")

log() { printf '[testbed %5ss] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'testbed: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- cache check
# Everything that decides the output: this script and the Go program's source.
stamp_hash() {
    (cd "$HERE" && sha256sum build-images.sh go-app/go.mod go-app/main.go) | sha256sum | cut -d' ' -f1
}
HASH=$(stamp_hash)
up_to_date() { [[ "${TESTBED_FORCE:-0}" != 1 && -f "$OUT/.stamp" && "$(cat "$OUT/.stamp")" == "$HASH" ]]; }
if up_to_date; then
    log "up to date: $OUT (stamp $HASH)"
    exit 0
fi

[[ $(id -u) == 0 ]] || die "must run as root (mmdebstrap --mode=root, device nodes, file owners)"
for c in mmdebstrap umoci skopeo jq go npm tar dpkg-query sha256sum flock; do
    command -v "$c" >/dev/null || die "missing command '$c': run testbed/install-deps.sh"
done

# Serialise concurrent builds of the same OUT_DIR (e.g. parallel test binaries).
exec 9>"$PARENT/.$(basename "$OUT").lock"
flock 9
if up_to_date; then
    log "up to date after waiting for another build: $OUT"
    exit 0
fi
# After an interrupted run a concurrent build may hold nothing: clear old leftovers.
rm -rf "$PARENT/.$(basename "$OUT").build."* "$OUT.old."* 2>/dev/null || true

# -------------------------------------------------------------------- settings
# Fixed timestamps make every digest reproducible (for one state of the mirror).
EPOCH=1704067200                                   # 2024-01-01T00:00:00Z
APP_EPOCH=$((EPOCH + 3600))
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
SUITE=bookworm
PY_SITE=usr/local/lib/python3.11/site-packages
PIP_PKGS=(requests==2.19.1 urllib3==1.23 Jinja2==2.10 PyYAML==5.3 chardet==3.0.4 certifi==2018.4.16)
EGG_PKG=idna==2.7                                  # installed with setup.py: an .egg-info
NPM_PKGS=(lodash@4.17.15 minimist@1.2.0)
GO_DEB_SRC=/usr/share/gocode/src
GO_VENDOR_PKGS=(golang.org/x/net/html golang.org/x/net/html/atom
                golang.org/x/text/transform golang.org/x/text/unicode/norm)

# The mirror apt is configured with: deb822 files first, then one-line lists.
find_mirror() {
    local f uri
    shopt -s nullglob
    for f in /etc/apt/sources.list.d/*.sources; do
        uri=$(awk -v suite="$SUITE" '
            function flush() {
                if (types ~ /(^|[ \t])deb([ \t]|$)/ && suites ~ ("(^|[ \t])" suite "([ \t]|$)") &&
                    enabled !~ /^[ \t]*no/ && uris != "" && found == "") {
                    split(uris, u, /[ \t]+/); found = u[1]
                }
                types = uris = suites = enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            { line = $0; key = tolower(line); sub(/:.*/, "", key)
              val = line; sub(/^[^:]*:[ \t]*/, "", val)
              if (key == "types") types = val
              else if (key == "uris") uris = val
              else if (key == "suites") suites = val
              else if (key == "enabled") enabled = tolower(val) }
            END { flush(); print found }' "$f")
        [[ -n "$uri" ]] && { echo "$uri"; return; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        uri=$(awk -v suite="$SUITE" '
            $1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                          if ($(i + 1) == suite) { print $i; exit } }' "$f")
        [[ -n "$uri" ]] && { echo "$uri"; return; }
    done
    echo http://deb.debian.org/debian
}
MIRROR=${TESTBED_MIRROR:-$(find_mirror)}
MIRROR=${MIRROR%/}

# The Python whose pip/setuptools install the packages: Debian's when it has pip.
if [[ -n "${TESTBED_PYTHON:-}" ]]; then PY=$TESTBED_PYTHON
elif /usr/bin/python3 -m pip --version >/dev/null 2>&1; then PY=/usr/bin/python3
else PY=python3
fi
"$PY" -m pip --version >/dev/null 2>&1 || die "$PY has no pip: run testbed/install-deps.sh"

: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
export HOME

# ---------------------------------------------------------------- work dirs
BUILD=$(mktemp -d "$PARENT/.$(basename "$OUT").build.XXXXXX")
cleanup() { rm -rf "$BUILD"; }
trap cleanup EXIT
W=$BUILD/work          # scratch
N=$BUILD/out           # becomes OUT_DIR
mkdir -p "$W" "$N/expected"
export TMPDIR=$W/tmp
mkdir -p "$TMPDIR"
L=$N/oci               # the OCI layout

# A reproducible tar of the entries NAMES (relative to DIR): sorted, fixed
# mtimes and owners, no atime/ctime, deterministic pax header names.
repro_tar() {
    local out=$1 dir=$2; shift 2
    tar --create --file="$out" --directory="$dir" --sort=name --format=pax \
        --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner "$@"
}

log "mirror $MIRROR, python $PY ($("$PY" --version 2>&1)), $(go version), npm $(npm --version)"

# ======================================================================= base
log "base: mmdebstrap $SUITE minbase"
BASE_TAR=$W/base.tar
SOURCE_DATE_EPOCH=$EPOCH mmdebstrap --quiet --variant=minbase --mode=root \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    "$SUITE" "$BASE_TAR" "deb $MIRROR $SUITE main" </dev/null >"$W/mmdebstrap.log" 2>&1 \
    || { tail -n 30 "$W/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
# Official images ship an empty /dev: drop the device nodes, links and dirs in it.
tar --delete --wildcards --file="$BASE_TAR" './dev/?*'
if tar -tvf "$BASE_TAR" | awk '$1 ~ /^[cb]/ { found = 1 } END { exit !found }'; then
    die "device nodes left in the base tar"
fi

log "base: unpack base-rootfs"
mkdir "$N/base-rootfs"
tar --extract --file="$BASE_TAR" --directory="$N/base-rootfs" \
    --preserve-permissions --same-owner --numeric-owner --xattrs --xattrs-include='*'
chmod 0755 "$N/base-rootfs"

log "base: umoci layout"
umoci init --layout "$L"
umoci new --image "$L:base"
umoci raw add-layer --image "$L:base" \
    --history.created "$(iso "$EPOCH")" \
    --history.created_by "mmdebstrap --variant=minbase --mode=root --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr $SUITE - \"deb $MIRROR $SUITE main\"" \
    --history.comment "Debian $SUITE minbase root filesystem" \
    "$BASE_TAR"
umoci config --image "$L:base" \
    --created "$(iso "$EPOCH")" \
    --author "palisade testbed" \
    --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --config.cmd /bin/bash \
    --config.label "org.opencontainers.image.title=palisade-testbed-base" \
    --history.created "$(iso "$EPOCH")" \
    --history.created_by '/bin/sh -c #(nop)  CMD ["/bin/bash"]'

# ======================================================================== app
# a. Python packages (dist-info from wheels, plus one .egg-info).
log "app: python packages (${PIP_PKGS[*]} $EGG_PKG)"
PYROOT=$W/layer-python
mkdir -p "$PYROOT/$PY_SITE"
CFLAGS=-g0 PIP_NO_INPUT=1 "$PY" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --no-warn-script-location --root-user-action=ignore \
    --target "$PYROOT/$PY_SITE" --no-deps --no-compile "${PIP_PKGS[@]}" </dev/null
mkdir -p "$W/egg"
"$PY" -m pip download --quiet --disable-pip-version-check --no-cache-dir --no-deps \
    --no-binary :all: --no-build-isolation --dest "$W/egg" "$EGG_PKG" </dev/null
tar -xzf "$W/egg/"*.tar.gz -C "$W/egg"
(
    cd "$W/egg/${EGG_PKG/==/-}"
    CFLAGS=-g0 "$PY" -W ignore setup.py --quiet install --root="$PYROOT" --prefix=/usr/local \
        --install-lib="/$PY_SITE" --install-scripts=/usr/local/bin \
        --single-version-externally-managed --record=/dev/null --no-compile </dev/null >"$W/egg.log" 2>&1 \
        || { cat "$W/egg.log" >&2; exit 1; }
)
find "$PYROOT" -name __pycache__ -prune -exec rm -rf {} +
ls -d "$PYROOT/$PY_SITE"/*.egg-info >/dev/null || die "no .egg-info was installed"

# b. npm packages with package.json, package-lock.json and node_modules.
log "app: npm packages (${NPM_PKGS[*]})"
NPMROOT=$W/layer-npm
mkdir -p "$NPMROOT/app"
cat >"$NPMROOT/app/package.json" <<'EOF'
{
  "name": "palisade-testbed-app",
  "version": "1.0.0",
  "private": true
}
EOF
(
    cd "$NPMROOT/app"
    # Lockfiles with "resolved" URLs, as npm writes by default (some npmrc files turn them off).
    npm install --save-exact --no-audit --no-fund --ignore-scripts --no-update-notifier \
        --omit-lockfile-registry-resolved=false --loglevel=error --cache "$W/npm-cache" "${NPM_PKGS[@]}" </dev/null >"$W/npm.log" 2>&1 \
        || { cat "$W/npm.log" >&2; exit 1; }
)
[[ -f "$NPMROOT/app/package-lock.json" ]] || die "npm wrote no package-lock.json"

# c. A Go binary with dependency build info, built offline against Debian's
#    golang.org/x/{net,text} sources through a throw-away vendor/ directory.
log "app: go-app against Debian's golang.org/x/net"
deb_upstream() {   # 1:0.7.0+dfsg-1 -> 0.7.0
    dpkg-query -W -f='${Version}' "$1" | sed -e 's/^[0-9]*://' -e 's/[+~-].*//'
}
GOSRC=$W/go-src
cp -r "$HERE/go-app" "$GOSRC"
rm -rf "$GOSRC/vendor"
: >"$GOSRC/vendor.txt"
for mod in net text; do
    ver=v$(deb_upstream "golang-golang-x-$mod-dev")
    [[ "$ver" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "cannot read the version of golang-golang-x-$mod-dev"
    gover=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$GO_DEB_SRC/golang.org/x/$mod/go.mod" | head -n1)
    (cd "$GOSRC" && go mod edit -require="golang.org/x/$mod@$ver")
    {
        echo "# golang.org/x/$mod $ver"
        if [[ -n "$gover" ]]; then echo "## explicit; go $gover"; else echo "## explicit"; fi
        for p in "${GO_VENDOR_PKGS[@]}"; do
            [[ "$p" == golang.org/x/$mod/* ]] && echo "$p"
        done
    } >>"$GOSRC/vendor.txt"
done
for p in "${GO_VENDOR_PKGS[@]}"; do
    [[ -d "$GO_DEB_SRC/$p" ]] || die "missing $GO_DEB_SRC/$p: install golang-golang-x-net-dev"
    mkdir -p "$GOSRC/vendor/$p"
    find "$GO_DEB_SRC/$p" -maxdepth 1 -type f -name '*.go' ! -name '*_test.go' \
        -exec cp -t "$GOSRC/vendor/$p/" {} +
done
mv "$GOSRC/vendor.txt" "$GOSRC/vendor/modules.txt"
GOROOTFS=$W/layer-go
mkdir -p "$GOROOTFS/usr/local/bin"
(
    cd "$GOSRC"
    env GOPROXY=off GOTOOLCHAIN=local GOFLAGS=-mod=vendor GO111MODULE=on GOWORK=off GOENV=off \
        GOCACHE="$W/go-cache" GOPATH="$W/gopath" GOMODCACHE="$W/gopath/pkg/mod" \
        CGO_ENABLED=0 GOOS=linux \
        go build -trimpath -buildvcs=false -o "$GOROOTFS/usr/local/bin/go-app" .
)
go version -m "$GOROOTFS/usr/local/bin/go-app" | grep -q $'^\tdep\tgolang.org/x/net\tv' \
    || die "go-app carries no golang.org/x/net build info"

# d. The layers and config of `app`, on top of `base`.
log "app: umoci layers"
repro_tar "$W/python.tar" "$PYROOT" usr
repro_tar "$W/npm.tar" "$NPMROOT" app
repro_tar "$W/go.tar" "$GOROOTFS" usr
umoci raw add-layer --image "$L:base" --tag app \
    --history.created "$(iso "$((APP_EPOCH + 1))")" \
    --history.created_by "pip install --target /$PY_SITE --no-deps --no-compile ${PIP_PKGS[*]} && setup.py install $EGG_PKG" \
    "$W/python.tar"
umoci raw add-layer --image "$L:app" \
    --history.created "$(iso "$((APP_EPOCH + 2))")" \
    --history.created_by "cd /app && npm install --save-exact ${NPM_PKGS[*]}" \
    "$W/npm.tar"
umoci raw add-layer --image "$L:app" \
    --history.created "$(iso "$((APP_EPOCH + 3))")" \
    --history.created_by "go build -trimpath -buildvcs=false -o /usr/local/bin/go-app ./go-app" \
    "$W/go.tar"
umoci config --image "$L:app" \
    --created "$(iso "$APP_EPOCH")" \
    --config.user 1000 \
    --config.env "PALISADE_TESTBED=app" \
    --config.workingdir /app \
    --config.cmd /usr/local/bin/go-app \
    --config.label "org.opencontainers.image.title=palisade-testbed-app" \
    --config.label "org.opencontainers.image.description=Old Python, npm and Go packages on Debian $SUITE" \
    --history.created "$(iso "$((APP_EPOCH + 4))")" \
    --history.created_by '/bin/sh -c #(nop)  USER 1000, ENV PALISADE_TESTBED=app, WORKDIR /app, CMD ["/usr/local/bin/go-app"]'
umoci gc --layout "$L"
umoci ls --layout "$L" | sort | tr '\n' ' ' | grep -qx 'app base ' || die "unexpected tags in $L"

# ==================================================================== exports
log "exports: oci-archive and docker-archive"
for tag in base app; do
    skopeo --insecure-policy copy --quiet "oci:$L:$tag" "oci-archive:$N/$tag.oci.tar:$tag"
    # skopeo stamps the archive's entries with the current time: repack them.
    mkdir "$W/ociarchive-$tag"
    tar -xf "$N/$tag.oci.tar" -C "$W/ociarchive-$tag"
    repro_tar "$N/$tag.oci.tar" "$W/ociarchive-$tag" oci-layout index.json blobs
    skopeo --insecure-policy copy --quiet "oci:$L:$tag" "docker-archive:$N/$tag.docker.tar:testbed/$tag:latest"
done

# multi.docker.tar: `docker save` of two images is one tar with one manifest.json
# list entry per image ({Config, RepoTags, Layers}), a `repositories` map and the
# union of the content-addressed files. Merge the two single-image archives.
log "exports: multi.docker.tar"
M=$W/multi
mkdir -p "$M/base" "$M/app" "$M/all"
tar -xf "$N/base.docker.tar" -C "$M/base"
tar -xf "$N/app.docker.tar" -C "$M/app"
for d in base app; do
    (cd "$M/$d" && find . -mindepth 1 -maxdepth 1 ! -name manifest.json ! -name repositories \
        -exec cp -a -n -t "$M/all/" {} +)
done
jq -s 'add' "$M/base/manifest.json" "$M/app/manifest.json" >"$M/all/manifest.json"
repos=()
for d in base app; do [[ -f "$M/$d/repositories" ]] && repos+=("$M/$d/repositories"); done
if ((${#repos[@]})); then
    jq -s 'reduce .[] as $r ({}; . * $r)' "${repos[@]}" >"$M/all/repositories"
fi
(cd "$M/all" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | sort) >"$M/list"
repro_tar "$N/multi.docker.tar" "$M/all" --files-from="$M/list"
[[ $(tar -xOf "$N/multi.docker.tar" manifest.json | jq length) == 2 ]] || die "multi.docker.tar manifest"

# ============================================================== ground truth
log "expected: ground truth"
E=$N/expected
# dpkg: Source semantics by hand (empty -> the package itself; "name (ver)"),
# cross-checked against dpkg's own source:Package/source:Version virtual fields.
dpkg-query --admindir="$N/base-rootfs/var/lib/dpkg" -W \
    -f='${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\t${Source}\n' |
    awk -F'\t' -v OFS='\t' '$1 ~ /^ii/ {
        src = $5; srcver = $3
        if (src == "") src = $2
        else if (match(src, / \(.*\)$/)) { srcver = substr(src, RSTART + 2, RLENGTH - 3); src = substr(src, 1, RSTART - 1) }
        print $2, $3, $4, src, srcver }' | sort >"$E/base.dpkg.tsv"
dpkg-query --admindir="$N/base-rootfs/var/lib/dpkg" -W \
    -f='${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\n' |
    awk -F'\t' -v OFS='\t' '$1 ~ /^ii/ { print $2, $3, $4, $5, $6 }' | sort >"$W/dpkg-virtual.tsv"
cmp -s "$E/base.dpkg.tsv" "$W/dpkg-virtual.tsv" || {
    diff "$E/base.dpkg.tsv" "$W/dpkg-virtual.tsv" >&2 || true
    die "dpkg Source parsing disagrees with dpkg-query's source:* fields"
}
# Python: Name/Version headers of every installed METADATA (dist-info) and PKG-INFO (egg-info).
for f in "$PYROOT/$PY_SITE"/*.dist-info/METADATA "$PYROOT/$PY_SITE"/*.egg-info/PKG-INFO; do
    awk -v OFS='\t' '/^$/ { exit } /^Name: / { n = substr($0, 7) } /^Version: / { v = substr($0, 10) }
                     END { print n, v }' "$f"
done | sort -f >"$E/app.python.tsv"
# npm: name and version of every package.json below node_modules.
find "$NPMROOT/app/node_modules" -name package.json -type f -print0 | sort -z |
    xargs -0 -r jq -r '[.name, .version] | @tsv' | sort >"$E/app.npm.tsv"
# Go: the toolchain's own reading of the binary's build info.
(cd "$GOROOTFS" && go version -m usr/local/bin/go-app) >"$E/app.go.txt"
# Image digests, read from the layout's index and blobs.
for tag in base app; do
    m=$(jq -r --arg t "$tag" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$L/index.json")
    c=$(jq -r '.config.digest' "$L/blobs/sha256/${m#sha256:}")
    n=$(jq -r '.layers | length' "$L/blobs/sha256/${m#sha256:}")
    printf '%s\t%s\t%s\t%s\n' "$tag" "$m" "$c" "$n"
done >"$E/images.tsv"

# Sanity checks against the ground truth.
[[ $(wc -l <"$E/base.dpkg.tsv") -ge 50 ]] || die "too few dpkg packages in base"
for p in requests urllib3 Jinja2 PyYAML idna; do grep -q "^$p	" "$E/app.python.tsv" || die "python $p missing"; done
for p in lodash minimist; do grep -q "^$p	" "$E/app.npm.tsv" || die "npm $p missing"; done

echo "$HASH" >"$N/.stamp"

# ================================================================ move in place
if [[ -e "$OUT" ]]; then mv "$OUT" "$OUT.old.$$"; fi
mv "$N" "$OUT"
rm -rf "$OUT.old.$$"
log "done: $OUT"
cut -f1,2 "$OUT/expected/images.tsv" >&2
