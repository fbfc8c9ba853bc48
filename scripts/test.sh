#!/usr/bin/env bash
# Runs every sealkit test. Installs what the tests need first (Debian packages, PyPI tools),
# so it works on a fresh Debian machine with the Rust toolchain. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each scripts/deps/*.sh installs the real tools one area's tests use as peers
# (age, sops, OpenBao, moto, kubectl, python cryptography, ...).
for dep in scripts/deps/*.sh; do
  [ -e "$dep" ] || continue
  echo "==> $dep"
  bash "$dep"
done

# Tools installed by pip land here on some machines.
export PATH="$HOME/.local/bin:$PATH"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# `cargo test --workspace` builds every binary before running any test, so the e2e tests can
# take `seal` and `seal-controller` from the target directory instead of building them again
# (sealkit_tests::binaries).
export SEALKIT_BIN_DIR="${CARGO_TARGET_DIR:-$PWD/target}/debug"
cargo test --workspace --locked "$@"
