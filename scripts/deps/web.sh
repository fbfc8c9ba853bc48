#!/usr/bin/env bash
# Browser tests of the sealing page (tests/e2e/web.rs, bench/web.sh): Debian's chromium and
# chromium-driver, run headless and driven over WebDriver.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core
fi
