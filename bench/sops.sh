#!/usr/bin/env bash
# SOPS throughput: seal vs the real sops 3.11 on a generated 10 MB YAML with 100k leaves,
# and our YAML store's bare parse+emit of the same file, all in one run.
#   usage: bench/sops.sh [LEAVES] [RUNS]
# Needs: sops (scripts/deps/sops.sh), age-keygen. Builds release binaries first.
set -euo pipefail
cd "$(dirname "$0")/.."
LEAVES=${1:-100000}
RUNS=${2:-3}
cargo build --release --quiet -p seal --bin seal -p sealer --example sops_parse_emit
TARGET=${CARGO_TARGET_DIR:-target}/release
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
age-keygen -o "$WORK/key.txt" 2>/dev/null
RECIPIENT=$(grep -o 'age1[0-9a-z]*' "$WORK/key.txt" | head -1)
export SOPS_AGE_KEY_FILE="$WORK/key.txt"
python3 - "$WORK" "$LEAVES" "$RUNS" "$TARGET" "$RECIPIENT" <<'PY'
import os, random, string, subprocess, sys, time
work, leaves, runs, target, recipient = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rng = random.Random(7)
per = 100
plain = os.path.join(work, "big.yaml")
with open(plain, "w") as f:
    for s in range(leaves // per):
        f.write(f"section_{s}:\n")
        for k in range(per):
            v = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(72))
            f.write(f"    key_{k}: {v}\n")
size = os.path.getsize(plain)
seal = os.path.join(target, "seal")
parse_emit = os.path.join(target, "examples", "sops_parse_emit")
def best(argv, out):
    times = []
    for _ in range(runs):
        with open(out, "wb") as o:
            t = time.perf_counter()
            subprocess.run(argv, stdout=o, check=True)
            times.append(time.perf_counter() - t)
    return min(times)
r = {}
r["seal encrypt"] = best([seal, "encrypt", "--age", recipient, plain], os.path.join(work, "seal.enc.yaml"))
r["sops encrypt"] = best(["sops", "encrypt", "--age", recipient, plain], os.path.join(work, "sops.enc.yaml"))
r["seal decrypt"] = best([seal, "decrypt", os.path.join(work, "seal.enc.yaml")], os.path.join(work, "seal.dec.yaml"))
r["sops decrypt"] = best(["sops", "decrypt", os.path.join(work, "sops.enc.yaml")], os.path.join(work, "sops.dec.yaml"))
r["parse+emit"] = best([parse_emit, plain], os.path.join(work, "pe.yaml"))
# Cross-check: each tool decrypts the other's file to the same cleartext.
same = lambda a, b: open(a, "rb").read() == open(b, "rb").read()
x1 = subprocess.run(["sops", "decrypt", os.path.join(work, "seal.enc.yaml")], capture_output=True, check=True).stdout
x2 = subprocess.run([seal, "decrypt", os.path.join(work, "sops.enc.yaml")], capture_output=True, check=True).stdout
assert x1 == open(plain, "rb").read() or x1 == open(os.path.join(work, "sops.dec.yaml"), "rb").read(), "sops cannot decrypt seal's file"
assert x2 == open(os.path.join(work, "sops.dec.yaml"), "rb").read(), "seal disagrees with sops"
print(f"input: {size/1e6:.1f} MB, {leaves} leaves, best of {runs} runs")
for name, t in r.items():
    print(f"{name:14s} {t:8.3f} s  {leaves/t:12.0f} leaves/s")
print(f"encrypt: seal is {r['sops encrypt']/r['seal encrypt']:.1f}x faster than sops (target >= 3x)")
print(f"decrypt: seal is {r['sops decrypt']/r['seal decrypt']:.1f}x faster than sops (target >= 3x)")
print(f"decrypt / parse+emit = {r['seal decrypt']/r['parse+emit']:.2f} (target <= 2)")
PY
