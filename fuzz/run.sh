#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, one after another, then prints a
# table: target, executions, crashes / OOMs / timeouts found. Findings go to
# fuzz/artifacts/TARGET/ (gitignored); new corpus entries to fuzz/corpus/TARGET/ (shrink them
# with `cargo +nightly fuzz cmin -s none TARGET` before committing).
#
#   fuzz/run.sh 60                  # every target, one minute each
#   fuzz/run.sh 600 template enc_value
#   FUZZ_RUNS=1000000 fuzz/run.sh 3600   # each target until a million executions (or an hour)
#
# Needs the nightly toolchain and cargo-fuzz (fuzz/install.sh installs both). Targets are
# built without a sanitizer: sealkit forbids `unsafe`, and the C inside aws-lc is not
# instrumented either way, so AddressSanitizer would halve the speed for nothing; debug
# assertions and overflow checks stay on. libFuzzer runs in fork mode so that one finding does
# not end the run.
set -uo pipefail
if [ $# -lt 1 ]; then
  echo "usage: fuzz/run.sh SECONDS [TARGET...]" >&2
  exit 2
fi
seconds=$1
shift
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build -s none || exit 1

dict_for() {
  case $1 in
    template) echo fuzz/dict/template.dict ;;
    enc_value) echo fuzz/dict/enc.dict ;;
    age_*) echo fuzz/dict/age.dict ;;
    certificate | private_key) echo fuzz/dict/pem.dict ;;
    sealed_blob) ;;
    *) echo fuzz/dict/yaml.dict ;;
  esac
}

mkdir -p fuzz/artifacts/logs
rows=()
for target in "${targets[@]}"; do
  log=fuzz/artifacts/logs/$target.log
  dict=$(dict_for "$target")
  mkdir -p "fuzz/corpus/$target"
  echo "== $target (${seconds}s)" >&2
  cargo +nightly fuzz run -s none "$target" -- \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -max_total_time="$seconds" ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} -rss_limit_mb=2048 -timeout=10 \
    ${dict:+-dict=$dict} >"$log" 2>&1
  execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  found=$(grep -oE 'oom/timeout/crash: [0-9]+/[0-9]+/[0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  IFS=/ read -r ooms timeouts crashes <<<"${found:-0/0/0}"
  rows+=("$(printf '%-20s %12s %8s %6s %9s' "$target" "${execs:-0}" "$crashes" "$ooms" "$timeouts")")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "${execs:-0}" "$crashes" "$ooms" \
    "$timeouts" >>fuzz/artifacts/runs.tsv
done

printf '%-20s %12s %8s %6s %9s\n' target executions crashes ooms timeouts
printf '%s\n' "${rows[@]}"
