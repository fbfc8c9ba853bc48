#!/usr/bin/env bash
# Installs what fuzzing needs: the nightly toolchain (libFuzzer's instrumentation) and
# cargo-fuzz. Not part of scripts/deps/ on purpose: CI replays the committed corpora under
# stable `cargo test` (tests/fuzz_corpus.rs) and does not need either.
set -euo pipefail
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
