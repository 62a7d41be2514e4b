#!/usr/bin/env bash
# Compares what users see from two builds of `palisade`: the binary of BASE_COMMIT and the
# binary of the current work tree (uncommitted changes included), run over the same inputs.
#
#   tools/output-diff.sh [BASE_COMMIT]        (default 65cd963, the commit before issue 14)
#
# Environment:
#   PROFILE=release|debug   build both binaries with this profile (default release; debug
#                           compiles faster and runs slower)
#   OUTPUT_DIFF_DIR=DIR     where everything goes (default <repo>/target/output-diff)
#   REGISTRY=0              skip the cases against a local docker-registry (default: run them
#                           when docker-registry and skopeo are installed)
#   FEEDS=DIR TESTDATA=DIR  the feed snapshots (default <repo>/../shared/feeds, .../testdata)
#
# What it does:
#   1. builds the current tree (`cargo build [--release] -p palisade-cli`), then BASE_COMMIT
#      from an export of that commit under OUTPUT_DIFF_DIR/base-<sha>/src with its own
#      CARGO_TARGET_DIR (OUTPUT_DIFF_DIR/base-<sha>/target). The base binary is cached: it is
#      built only when missing. Its first build is seeded with the current tree's compiled
#      third-party crates (cargo rebuilds whatever does not match).
#   2. gives each binary its own directory (OUTPUT_DIFF_DIR/run/base, .../run/new): its own
#      vulnerability database made by its own `db import` of the same feeds, its own empty cache
#      per case, its own HOME, XDG and TMPDIR, and no PALISADE_* variables.
#   3. runs every case (sbom, scan, db status, gate, policy, bench, verify, in every format)
#      with both binaries from the same working-directory layout, so relative paths print the
#      same; commands that read an image run twice, cold then warm cache, and both runs count.
#   4. compares stdout, stderr, the exit code and any --output file of each case after
#      normalising only what must differ between the two runs: the run directory of each
#      side, the database's import times, and the binary's version string when the two differ.
#      Never a finding.
#
# Prints one line per case (same / DIFFERS), then the unified diffs (also written to
# OUTPUT_DIFF_DIR/run/diff.txt). Exit 0 when every case is the same, 1 when one differs,
# 2 when the script itself fails (a build, the testbed, the database import).
set -euo pipefail
export LC_ALL=C LANG=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$ROOT/tools/output-diff
BASE_COMMIT=${1:-65cd963}
PROFILE=${PROFILE:-release}
OUT=${OUTPUT_DIFF_DIR:-$ROOT/target/output-diff}
FEEDS=${FEEDS:-$ROOT/../shared/feeds}
TESTDATA=${TESTDATA:-$ROOT/../shared/testdata}
NOW=2026-11-28T12:00:00Z

log() { printf '[output-diff %4ss] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'output-diff: error: %s\n' "$*" >&2; exit 2; }
trap 'die "failed at line $LINENO: $BASH_COMMAND"' ERR

case $PROFILE in
    release) cargo_profile=(--release) ;;
    debug) cargo_profile=() ;;
    *) die "PROFILE must be release or debug, not '$PROFILE'" ;;
esac
[[ -d $FEEDS/osv ]] || die "no feeds at $FEEDS (set FEEDS)"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# ------------------------------------------------------------------------------- binaries
base_sha=$(git -C "$ROOT" rev-parse --verify --quiet "$BASE_COMMIT^{commit}") \
    || die "unknown commit '$BASE_COMMIT'"
BASE_DIR=$OUT/base-${base_sha:0:12}
NEW_BIN=$ROOT/target/$PROFILE/palisade
BASE_BIN=$BASE_DIR/target/$PROFILE/palisade

log "building the current tree ($PROFILE)"
(cd "$ROOT" && nice -n 10 cargo build "${cargo_profile[@]}" -p palisade-cli)
[[ -x $NEW_BIN ]] || die "the build left no $NEW_BIN"

if [[ -x $BASE_BIN ]]; then
    log "base binary cached: $BASE_BIN (${base_sha:0:12})"
else
    log "exporting ${base_sha:0:12} to $BASE_DIR/src"
    rm -rf "$BASE_DIR/src"
    mkdir -p "$BASE_DIR/src"
    # -m: the sources get the current time, newer than any seeded artifact, so cargo (which
    # judges workspace crates by modification times) can never take the current tree's
    # compiled crates for the base's.
    git -C "$ROOT" archive --format=tar "$base_sha" | tar -x -m -C "$BASE_DIR/src"
    if [[ ! -d $BASE_DIR/target/$PROFILE/deps && -d $ROOT/target/$PROFILE/deps ]]; then
        log "seeding $BASE_DIR/target/$PROFILE with the current tree's third-party crates"
        mkdir -p "$BASE_DIR/target/$PROFILE"
        for d in deps build .fingerprint; do
            [[ -d $ROOT/target/$PROFILE/$d ]] && cp -a "$ROOT/target/$PROFILE/$d" "$BASE_DIR/target/$PROFILE/"
        done
        # Never the workspace's own crates: those are built from the base's sources.
        find "$BASE_DIR/target/$PROFILE" -maxdepth 2 -name '*palisade*' -exec rm -rf {} +
    fi
    log "building the base binary ($PROFILE)"
    (cd "$BASE_DIR/src" && CARGO_INCREMENTAL=0 CARGO_TARGET_DIR=$BASE_DIR/target nice -n 10 cargo build --locked "${cargo_profile[@]}" -p palisade-cli)
    [[ -x $BASE_BIN ]] || die "the base build left no $BASE_BIN"
fi

# ------------------------------------------------------------------------------ the inputs
log "checking the testbed images (testbed/build-images.sh, cached)"
T=$ROOT/target/testbed
bash "$ROOT/testbed/build-images.sh" "$T" >&2

RUN=$OUT/run
rm -rf "$RUN"
IN=$RUN/inputs
mkdir -p "$IN"
cp -r "$HERE/policies" "$HERE/bench" "$HERE/scan" "$IN/"

SIDES=(base new)
declare -A BIN=([base]=$BASE_BIN [new]=$NEW_BIN)
for side in "${SIDES[@]}"; do
    d=$RUN/$side
    mkdir -p "$d/bin" "$d/db" "$d/cache" "$d/home" "$d/xdg/config" "$d/xdg/data" "$d/xdg/state" "$d/tmp" "$d/out"
    # A hard link where it can (no copy of a large debug binary); cargo replaces, never rewrites.
    ln "${BIN[$side]}" "$d/bin/palisade" 2>/dev/null || cp "${BIN[$side]}" "$d/bin/palisade"
done

# Runs `palisade ARGS` for SIDE, from SIDE's directory, with a clean environment and
# CACHE (relative to SIDE's directory) as the cache. `@OUT@` in ARGS becomes the case's
# output file, out/NAME.file. Extra environment: OD_ENV=(K=V ...).
OD_ENV=()
run_side() {
    local side=$1 name=$2 cache=$3
    shift 3
    local d=$RUN/$side args=() a
    for a in "$@"; do args+=("${a//@OUT@/out/$name.file}"); done
    mkdir -p "$d/$cache"
    local code=0
    (cd "$d" && env -i PATH="$PATH" HOME="$d/home" TMPDIR="$d/tmp" TZ=UTC LC_ALL=C LANG=C \
        XDG_CACHE_HOME="$d/$cache" XDG_CONFIG_HOME="$d/xdg/config" \
        XDG_DATA_HOME="$d/xdg/data" XDG_STATE_HOME="$d/xdg/state" "${OD_ENV[@]}" \
        "$d/bin/palisade" "${args[@]}" \
        >"$d/out/$name.stdout" 2>"$d/out/$name.stderr" </dev/null) || code=$?
    echo "$code" >"$d/out/$name.code"
}

CASES=()
# A case: both binaries, one run each, with a fresh cache.
case_() {
    local name=$1
    shift
    CASES+=("$name")
    local side
    for side in "${SIDES[@]}"; do
        run_side "$side" "$name" "cache/$name" "$@"
        rm -rf "${RUN:?}/$side/cache/$name"
    done
}
# A case that reads an image: both binaries, cold then warm cache (two compared runs).
case_cw() {
    local name=$1
    shift
    CASES+=("$name.cold" "$name.warm")
    local side
    for side in "${SIDES[@]}"; do
        run_side "$side" "$name.cold" "cache/$name" "$@"
        run_side "$side" "$name.warm" "cache/$name" "$@"
        rm -rf "${RUN:?}/$side/cache/$name"    # layer caches: a case's own, never needed again
    done
}

# ------------------------------------------------------------------ the databases
log "importing the feeds into each side's database"
DB_FEEDS=(
    "$FEEDS/osv/PyPI/all.zip"
    "$FEEDS/osv/Go/all.zip"
    "$FEEDS/osv/crates.io/all.zip"
    "$FEEDS/nvd/nvdcve-2.0-excerpt.json"
    "$FEEDS/kev/known_exploited_vulnerabilities.json"
    "$TESTDATA/feeds/debian-tracker-excerpt/debian.json"
)
case_ db-import db import "${DB_FEEDS[@]}" --db db/vuln.db
for side in "${SIDES[@]}"; do
    [[ $(cat "$RUN/$side/out/db-import.code") == 0 && -f $RUN/$side/db/vuln.db ]] \
        || die "$side: db import failed: $(cat "$RUN/$side/out/db-import.stderr")"
done
DB=(--db db/vuln.db)

# -------------------------------------------------------------------------- the cases
log "running the cases"
case_ version --version
case_ db-status.table db status "${DB[@]}"
case_ db-status.json db status "${DB[@]}" --format json
case_ db-status.stale db status "${DB[@]}" --max-age 0
case_ db-status.missing db status --db db/none.db

declare -A SRC=(
    [app-oci]="oci-dir:$T/oci:app"
    [base-oci]="oci-dir:$T/oci:base"
    [app-ociarchive]="oci-archive:$T/app.oci.tar"
    [base-ociarchive]="oci-archive:$T/base.oci.tar"
    [app-docker]="docker-archive:$T/app.docker.tar"
    [base-docker]="docker-archive:$T/base.docker.tar"
    [multi-docker]="docker-archive:$T/multi.docker.tar"
    [base-dir]="dir:$T/base-rootfs"
)
SOURCES=(app-oci base-oci app-ociarchive base-ociarchive app-docker base-docker multi-docker base-dir)
# The multi-image archive needs --image; without it, it is an error (a case of its own).
src_args() {
    if [[ $1 == multi-docker ]]; then echo "${SRC[$1]} --image testbed/app:latest"; else echo "${SRC[$1]}"; fi
}

# sbom: every source, every format.
for s in "${SOURCES[@]}"; do
    read -r -a src <<<"$(src_args "$s")"
    for f in table json cyclonedx spdx; do
        case_cw "sbom.$s.$f" sbom "${src[@]}" --format "$f"
    done
done
case_cw sbom.app-oci.cyclonedx-file sbom "${SRC[app-oci]}" --format cyclonedx --output @OUT@
case_ sbom.multi-docker.no-image sbom "${SRC[multi-docker]}" --format json
case_ sbom.missing sbom "oci-dir:$T/no-such-layout:app"

# Shared SBOM inputs for `scan sbom:`, made once by the base binary.
run_side base sbom-input-cdx cache/sbom-input sbom "${SRC[app-oci]}" --format cyclonedx --output "$IN/app.cdx.json"
run_side base sbom-input-spdx cache/sbom-input sbom "${SRC[app-oci]}" --format spdx --output "$IN/app.spdx.json"

# scan: every format on the app, json on every source, and the filters.
for f in table json sarif cyclonedx junit; do
    case_cw "scan.app-oci.$f" scan "${SRC[app-oci]}" "${DB[@]}" --format "$f"
done
case_cw scan.app-oci.sarif-file scan "${SRC[app-oci]}" "${DB[@]}" --format sarif --output @OUT@ --exit-code 3
for s in "${SOURCES[@]}"; do
    read -r -a src <<<"$(src_args "$s")"
    case_cw "scan.$s.json" scan "${src[@]}" "${DB[@]}" --format json
done
case_cw scan.base-docker.table scan "${SRC[base-docker]}" "${DB[@]}"
case_cw scan.base-dir.table scan "${SRC[base-dir]}" "${DB[@]}"
APP=("${SRC[app-oci]}" "${DB[@]}")
case_cw scan.severity-critical-high.json scan "${APP[@]}" --severity CRITICAL,HIGH --format json
case_cw scan.severity-critical.table scan "${APP[@]}" --severity CRITICAL
case_cw scan.min-cvss-9.json scan "${APP[@]}" --min-cvss 9 --format json
case_cw scan.min-cvss-7-unknown-warn.table scan "${APP[@]}" --min-cvss 7 --unknown-severity warn
case_cw scan.min-cvss-7-unknown-ignore.json scan "${APP[@]}" --min-cvss 7 --unknown-severity ignore --format json
case_cw scan.ignore-unfixed.json scan "${APP[@]}" --ignore-unfixed --format json
case_cw scan.coverage-warn.table scan "${APP[@]}" --coverage warn
case_cw scan.coverage-ignore.table scan "${APP[@]}" --coverage ignore
case_cw scan.ignorefile.json scan "${APP[@]}" --ignorefile "$IN/scan/palisade-ignore.yaml" --format json
case_cw scan.ignorefile.table scan "${APP[@]}" --ignorefile "$IN/scan/palisade-ignore.yaml"
case_cw scan.vex.json scan "${APP[@]}" --vex "$IN/scan/app.openvex.json" "$IN/scan/app.cdx-vex.json" --format json
case_cw scan.vex.sarif scan "${APP[@]}" --vex "$IN/scan/app.openvex.json" --format sarif
case_cw scan.exit-code.findings scan "${APP[@]}" --exit-code 3
case_cw scan.exit-code.critical-covered scan "${APP[@]}" --exit-code 3 --min-cvss 9 --coverage warn --format json
case_cw scan.exit-code.nothing-left scan "${APP[@]}" --exit-code 3 --severity NEGLIGIBLE --coverage ignore --format junit
case_cw scan.fail-on-stale scan "${APP[@]}" --max-age 0 --fail-on-stale --format json
case_cw scan.max-age-0 scan "${APP[@]}" --max-age 0 --format json
case_ scan.sbom-cdx.json scan "sbom:$IN/app.cdx.json" "${DB[@]}" --format json
case_ scan.sbom-cdx.table scan "sbom:$IN/app.cdx.json" "${DB[@]}"
case_ scan.sbom-spdx.json scan "sbom:$IN/app.spdx.json" "${DB[@]}" --format json
case_ scan.no-db scan "${SRC[app-oci]}" --db db/none.db
case_ scan.missing-image scan "oci-dir:$T/oci:no-such-tag" "${DB[@]}"
case_ scan.exit-code-2 scan "${APP[@]}" --exit-code 2

# gate: policies x environments x formats; local images with and without --trust-local-tags.
P=$IN/policies
G=(--now "$NOW" "${DB[@]}")
for env in prod staging dev qa; do
    case_cw "gate.thresholds.$env.json" gate "${SRC[app-oci]}" --policy "$P/thresholds.yaml" --env "$env" "${G[@]}" --format json
done
for f in table sarif junit; do
    case_cw "gate.thresholds.prod.$f" gate "${SRC[app-oci]}" --policy "$P/thresholds.yaml" "${G[@]}" --format "$f"
done
case_cw gate.thresholds.explain gate "${SRC[app-oci]}" --policy "$P/thresholds.yaml" "${G[@]}" --explain
case_cw gate.thresholds.explain-json gate "${SRC[app-oci]}" --policy "$P/thresholds.yaml" "${G[@]}" --explain --format json
case_cw gate.thresholds.write-input gate "${SRC[app-oci]}" --policy "$P/thresholds.yaml" "${G[@]}" --write-input @OUT@
case_ gate.thresholds.unknown-env gate "${SRC[app-oci]}" --policy "$P/thresholds.yaml" --env prdo "${G[@]}"
case_ gate.thresholds.no-db gate "${SRC[app-oci]}" --policy "$P/thresholds.yaml" --now "$NOW" --db db/none.db
for s in app-oci base-dir; do
    case_cw "gate.coverage-default.$s.json" gate "${SRC[$s]}" --policy "$P/coverage-default.yaml" "${G[@]}" --format json
done
for s in app-oci base-docker; do
    for env in prod dev; do
        case_cw "gate.hardening.$s.$env.json" gate "${SRC[$s]}" --policy "$P/hardening.yaml" --env "$env" "${G[@]}" --format json
    done
done
case_cw gate.hardening.base-docker.table gate "${SRC[base-docker]}" --policy "$P/hardening.yaml" "${G[@]}"
for env in prod dev; do
    case_cw "gate.exceptions.$env.json" gate "${SRC[app-oci]}" --policy "$P/exceptions.yaml" --env "$env" "${G[@]}" --format json
done
case_cw gate.exceptions.explain gate "${SRC[app-oci]}" --policy "$P/exceptions.yaml" "${G[@]}" --explain
case_cw gate.exceptions.later.json gate "${SRC[app-oci]}" --policy "$P/exceptions.yaml" --now 2027-02-15 "${DB[@]}" --format json
case_cw gate.rego.app-oci.json gate "${SRC[app-oci]}" --policy "$P/rego.yaml" "${G[@]}" --format json
case_cw gate.rego.base-oci.table gate "${SRC[base-oci]}" --policy "$P/rego.yaml" "${G[@]}" --explain
case_cw gate.rego.young.json gate "${SRC[app-oci]}" --policy "$P/rego.yaml" --now 2024-01-31 "${DB[@]}" --format json
for s in app-oci app-ociarchive app-docker base-docker base-dir; do
    case_cw "gate.sources-local.$s.json" gate "${SRC[$s]}" --policy "$P/sources-local.yaml" "${G[@]}" --format json
    case_cw "gate.sources-local.$s.trusted.json" gate "${SRC[$s]}" --policy "$P/sources-local.yaml" "${G[@]}" --format json --trust-local-tags
done
for f in table json sarif junit; do
    case_cw "gate.everything.app-docker.trusted.$f" gate "${SRC[app-docker]}" --policy "$P/everything.yaml" "${G[@]}" --trust-local-tags --format "$f"
done
case_cw gate.everything.app-docker.trusted.sarif-file gate "${SRC[app-docker]}" --policy "$P/everything.yaml" "${G[@]}" --trust-local-tags --format sarif --output @OUT@ --explain
case_cw gate.everything.app-docker.dev.json gate "${SRC[app-docker]}" --policy "$P/everything.yaml" --env dev "${G[@]}" --trust-local-tags --format json
case_cw gate.everything.app-oci.json gate "${SRC[app-oci]}" --policy "$P/everything.yaml" "${G[@]}" --format json
case_cw gate.everything.multi-docker.trusted.json gate "${SRC[multi-docker]}" --image testbed/app:latest --policy "$P/everything.yaml" "${G[@]}" --trust-local-tags --format json
OD_ENV=(PALISADE_ENV=dev PALISADE_NOW=$NOW)
case_cw gate.everything.env-vars.json gate "${SRC[app-docker]}" --policy "$P/everything.yaml" "${DB[@]}" --trust-local-tags --format json
OD_ENV=()

# policy
for p in thresholds coverage-default hardening exceptions rego sources-local everything invalid; do
    case_ "policy.validate.$p" policy validate "$P/$p.yaml"
done
case_ policy.test policy test "$P/tests"
case_ policy.test.verbose policy test "$P/tests" -v
case_ policy.init policy init

# bench
B=$IN/bench
DOCKERFILES=("$B"/dockerfiles/*.Dockerfile)
MANIFESTS=("$B"/k8s/*.yaml)
case_ bench.list bench --list
case_ bench.list.level1 bench --list --level 1 --format json
for f in table json sarif junit; do
    case_cw "bench.image.app-oci.$f" bench image "${SRC[app-oci]}" --format "$f"
    case_ "bench.dockerfile.$f" bench dockerfile "${DOCKERFILES[@]}" --format "$f"
    case_ "bench.k8s.$f" bench k8s "${MANIFESTS[@]}" --format "$f"
    case_ "bench.containers.$f" bench containers "$B/inspect.json" --format "$f"
done
for s in base-docker base-dir multi-docker; do
    read -r -a src <<<"$(src_args "$s")"
    case_cw "bench.image.$s.json" bench image "${src[@]}" --format json
done
case_ bench.dockerfile.level1 bench dockerfile "${DOCKERFILES[@]}" --level 1 --format json
case_ bench.dockerfile.profile bench dockerfile "${DOCKERFILES[@]}" --profile "$B/profile.yaml"
case_ bench.dockerfile.build-arg bench dockerfile "$B/dockerfiles/09-arg-substitution.Dockerfile" --build-arg VERSION=1.2.3 --format json
case_ bench.dockerfile.exit-code bench dockerfile "${DOCKERFILES[@]}" --exit-code 3
case_ bench.dockerfile.fail-on-warn bench dockerfile "$B/dockerfiles/00-bench-test.Dockerfile" --exit-code 3 --fail-on warn
case_ bench.dockerfile.include bench dockerfile "${DOCKERFILES[@]}" --include 'CIS-DOCKER-4.*' --exclude CIS-DOCKER-4.9
case_ bench.k8s.exit-code bench k8s "${MANIFESTS[@]}" --exit-code 4 --level 1
case_ bench.k8s.sarif-file bench k8s "$B/k8s/manifests.yaml" --format sarif --output @OUT@
case_ bench.daemon.json bench daemon --root "$B/host-root" --format json
case_ bench.containers.root bench containers "$B/inspect.json" --root "$B/host-root" --format json
case_ bench.missing-file bench dockerfile "$B/no-such.Dockerfile"

# A local registry (optional): signed and unsigned copies of the app, pushed with skopeo.
REG=
stop_registry() { [[ -n $REG ]] && bash "$ROOT/testbed/registry.sh" stop "$RUN/registry" >/dev/null 2>&1 || true; }
trap stop_registry EXIT
if [[ ${REGISTRY:-1} != 0 ]] && command -v docker-registry >/dev/null && command -v skopeo >/dev/null; then
    log "starting a local registry"
    REG=$(bash "$ROOT/testbed/registry.sh" start "$RUN/registry")
    for pair in base:testbed/base:v1 app:testbed/app:v1 app:testbed/unsigned:v1; do
        skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
            "oci:$T/oci:${pair%%:*}" "docker://$REG/${pair#*:}" >&2
    done
    # One key pair and one signature, made by the base binary: the same registry content
    # for both sides.
    cp "$P/signed.yaml" "$IN/signed.yaml"
    OD_ENV=(PALISADE_PASSWORD=output-diff)
    run_side base keygen cache/keygen key generate --output-prefix "$IN/release"
    run_side base sign cache/sign sign "$REG/testbed/app:v1" --key "$IN/release.key"
    OD_ENV=()
    [[ $(cat "$RUN/base/out/sign.code") == 0 ]] || die "signing failed: $(cat "$RUN/base/out/sign.stderr")"
    case_cw registry.sbom.base.cyclonedx sbom "registry:$REG/testbed/base:v1" --format cyclonedx
    case_cw registry.scan.app.json scan "registry:$REG/testbed/app:v1" "${DB[@]}" --format json
    case_cw registry.scan.app.table scan "registry:$REG/testbed/app:v1" "${DB[@]}"
    for img in app unsigned base; do
        case_cw "registry.gate.signed.$img.json" gate "registry:$REG/testbed/$img:v1" --policy "$IN/signed.yaml" "${G[@]}" --format json
    done
    case_cw registry.gate.signed.unsigned.table gate "registry:$REG/testbed/unsigned:v1" --policy "$IN/signed.yaml" "${G[@]}" --explain
    case_cw registry.gate.everything.app.sarif gate "registry:$REG/testbed/app:v1" --policy "$P/everything.yaml" "${G[@]}" --format sarif
    case_ registry.verify.signed verify "$REG/testbed/app:v1" --key "$IN/release.pub"
    case_ registry.verify.unsigned verify "$REG/testbed/unsigned:v1" --key "$IN/release.pub"
    case_ registry.missing-tag scan "registry:$REG/testbed/app:nope" "${DB[@]}"
else
    log "skipping the registry cases (REGISTRY=0, or docker-registry/skopeo missing)"
fi

# ---------------------------------------------------------------------------- compare
log "comparing ${#CASES[@]} cases"
v_base=$("$RUN/base/bin/palisade" --version 2>/dev/null || true)
v_new=$("$RUN/new/bin/palisade" --version 2>/dev/null || true)
v_base=${v_base##* }
v_new=${v_new##* }

# The import times each side's database recorded (`db status` shows them): they differ.
imported_at() {
    jq -r '.feeds[].imported_at' "$RUN/$1/out/db-status.json.stdout" 2>/dev/null | sort -u || true
}

normalise() { # SIDE FILE -> stdout
    local side=$1 file=$2 t
    local args=(-e "s#$RUN/$side#[RUN]#g")
    for t in $(imported_at "$side"); do args+=(-e "s#$t#[IMPORTED_AT]#g"); done
    if [[ -n $v_base && -n $v_new && $v_base != "$v_new" ]]; then
        args+=(-e "s#\\b${v_new//./\\.}\\b#[VERSION]#g" -e "s#\\b${v_base//./\\.}\\b#[VERSION]#g")
    fi
    sed "${args[@]}" "$file"
}

CMP=$RUN/compare
DIFF=$RUN/diff.txt
: >"$DIFF"
same=0
differs=0
for name in "${CASES[@]}"; do
    ok=1
    for stream in code stdout stderr file; do
        b=$RUN/base/out/$name.$stream
        n=$RUN/new/out/$name.$stream
        [[ -e $b || -e $n ]] || continue
        mkdir -p "$CMP/base" "$CMP/new"
        if [[ -e $b ]]; then normalise base "$b" >"$CMP/base/$name.$stream"; else echo "(no file)" >"$CMP/base/$name.$stream"; fi
        if [[ -e $n ]]; then normalise new "$n" >"$CMP/new/$name.$stream"; else echo "(no file)" >"$CMP/new/$name.$stream"; fi
        if ! diff -u --label "base/$name.$stream" --label "new/$name.$stream" \
            "$CMP/base/$name.$stream" "$CMP/new/$name.$stream" >>"$DIFF"; then
            ok=0
        fi
    done
    code="exit $(cat "$RUN/base/out/$name.code")"
    if [[ $ok == 1 ]]; then
        same=$((same + 1))
        printf 'same     %-60s %s\n' "$name" "$code"
    else
        differs=$((differs + 1))
        printf 'DIFFERS  %-60s %s -> %s\n' "$name" "$code" "exit $(cat "$RUN/new/out/$name.code")"
    fi
done
if [[ -n $v_base && $v_base != "$v_new" ]]; then
    printf '\nversions differ (%s, %s): both read as [VERSION] in the comparison\n' "$v_base" "$v_new"
fi
if [[ $differs == 0 ]]; then
    printf '\nall same: %d cases, base %s vs the current tree (%s builds)\n' "$same" "${base_sha:0:12}" "$PROFILE"
    exit 0
fi
printf '\n%s\n' "---- unified diffs (also in $DIFF) ----"
cat "$DIFF"
printf '\n%d of %d cases differ: base %s vs the current tree (%s builds)\n' "$differs" "${#CASES[@]}" "${base_sha:0:12}" "$PROFILE"
exit 1
