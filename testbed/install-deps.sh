#!/usr/bin/env bash
# Install what testbed/build-images.sh, registry.sh and push.sh need, from
# Debian 12's own packages. Idempotent: does nothing (no apt-get update either)
# when everything is already there. Root, non-interactive.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

need=()
want() { need+=("$1"); }                       # package
has_cmd() { command -v "$1" >/dev/null 2>&1; }

has_cmd docker-registry || want docker-registry
has_cmd skopeo          || want skopeo
# GPG simple-signing tests (crates/palisade-cli/tests/gpg.rs): keys made with gpg, signed by skopeo.
has_cmd gpg             || want gnupg
has_cmd umoci           || want umoci
has_cmd mmdebstrap      || want mmdebstrap
has_cmd jq              || want jq
has_cmd curl            || want curl
# Docker Content Trust tests (testbed/notary.sh): the notary client and notary-server 0.7.0.
{ has_cmd notary && has_cmd notary-server; } || want notary
has_cmd openssl         || want openssl
# palisade bench tests run a private Docker engine (testbed/dockerd.sh).
has_cmd dockerd         || want docker.io
[[ -s /etc/ssl/certs/ca-certificates.crt ]] || want ca-certificates
[[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] || want debian-archive-keyring
has_cmd go              || want golang-go
[[ -d /usr/share/gocode/src/golang.org/x/net/html ]]         || want golang-golang-x-net-dev
[[ -d /usr/share/gocode/src/golang.org/x/text/unicode/norm ]] || want golang-golang-x-text-dev
has_cmd npm             || want npm
# build-images.sh uses Debian's Python for pip (wheels, --target) and setuptools (the .egg-info).
if [[ -x /usr/bin/python3 ]]; then
    /usr/bin/python3 -m pip --version >/dev/null 2>&1 || { want python3-pip; want python3-wheel; }
    /usr/bin/python3 -c 'import setuptools' >/dev/null 2>&1 || want python3-setuptools
else
    want python3; want python3-pip; want python3-setuptools; want python3-wheel
fi
# The store tests run a private PostgreSQL (testbed/postgres.sh).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || want postgresql
# The console's browser tests drive Debian's chromium headless through chromedriver.
[[ -x /usr/bin/chromium ]]     || want chromium
[[ -x /usr/bin/chromedriver ]] || want chromium-driver
# The AlmaLinux test (crates/palisade-cli/tests/rpm_almalinux.rs) checks findings with rpm.labelCompare.
/usr/bin/python3 -c 'import rpm' >/dev/null 2>&1 || want python3-rpm
# The Ruby test (crates/palisade-cli/tests/ruby_php_dotnet.rs) copies the gemspecs these install.
[[ -n $(compgen -G "/usr/share/rubygems-integration/all/specifications/rack-*.gemspec") ]] || want ruby-rack
[[ -n $(compgen -G "/usr/share/rubygems-integration/all/specifications/webrick-*.gemspec") ]] || want ruby-webrick
has_cmd flock  || want util-linux
has_cmd setsid || want util-linux
has_cmd tar    || want tar
has_cmd gzip   || want gzip

if ((${#need[@]} == 0)); then
    echo "install-deps: everything is installed"
    exit 0
fi
[[ $(id -u) == 0 ]] || { echo "install-deps: must run as root to install: ${need[*]}" >&2; exit 1; }
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
echo "install-deps: installing ${need[*]}"
apt-get update -qq </dev/null
apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "${need[@]}" </dev/null
