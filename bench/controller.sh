#!/usr/bin/env bash
# seal-controller benchmarks, all figures from one run on this machine (no thresholds):
#  1. cold start over 1,000 SealedSecrets x 3 RSA-4096 keys: wall time, and the ratio to
#     3,000 x `openssl speed rsa4096` private-op time / cores measured in the same run (target <= 1.15)
#  2. restart over 10,000 in-sync SealedSecrets: time to all-synced (target < 5 s), RSA ops (target 0)
#  3. peak RSS of the controller with 10,000 objects cached (target < 100 MiB)
# The real `seal-controller` binary (release) runs against the in-process API-server harness
# (tests/src/harness), built in release too; the bench builds the binaries it runs
# (sealkit_tests::binaries, or SEALKIT_BIN_DIR=<dir> with prebuilt release binaries).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins --quiet
. bench/common.sh
export SEALKIT_BIN_DIR="$(target_dir)/release"
cargo bench -p sealkit-tests --bench controller
