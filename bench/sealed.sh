#!/usr/bin/env bash
# SealedSecret benchmarks, all figures from one run on this machine:
#  1. RSA-4096 OAEP decrypt vs `openssl speed rsa4096` (ratio; target <= 1.2)
#  2. `seal` on a 1,000-document Secret stream with 3 keys each (items/s; target >= 5,000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p sealer --bench sealed
cargo build --release -p seal --quiet
. bench/common.sh
target="$(target_dir)"
seal="$target/release/seal"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$seal" keygen --out-dir "$work/keys" 2>/dev/null
python3 - "$work/stream.yaml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1000):
        f.write(f"---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s{i}\n  namespace: bench\n"
                f"stringData:\n  username: user{i}\n  password: pass-{i}-xxxxxxxxxxxxxxxx\n  token: tok-{i}-yyyyyyyyyyyyyyyyyyyyyyyy\n")
PY
runs=5
best=""
for _ in $(seq $runs); do
  start=$(date +%s%N)
  "$seal" "$work/stream.yaml" --cert "$work/keys/tls.crt" > "$work/out.yaml"
  end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 ))
  if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
done
docs=$(grep -c '^kind: SealedSecret' "$work/out.yaml")
echo "seal 1,000-document stream (3 keys each): ${best} ms wall (best of $runs), $docs SealedSecrets"
python3 -c "print(f'items/s: {3000 / ($best / 1000):.0f} (target >= 5000); documents/s: {1000 / ($best / 1000):.0f}')"
