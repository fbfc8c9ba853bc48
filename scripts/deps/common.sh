#!/usr/bin/env bash
# Tools every area needs: apt index, pip, python `cryptography` (independent SealedSecret
# implementation used by the interop tests), openssl (benchmark reference).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}"
fi
python3 -c 'import cryptography, yaml' 2>/dev/null || \
  python3 -m pip install --quiet --disable-pip-version-check cryptography pyyaml 2>/dev/null || \
  python3 -m pip install --quiet --disable-pip-version-check --break-system-packages cryptography pyyaml
