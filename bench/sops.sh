#!/usr/bin/env bash
# SOPS throughput, all in one run on the same input:
#   - a generated YAML of ~10 MB with LEAVES (default 100 000) string leaves;
#   - `seal encrypt` vs the real `sops encrypt` (same age recipient, same file);
#   - `seal decrypt` vs `sops decrypt` of the same encrypted file (the one sops wrote);
#   - our YAML store's bare parse + re-emit of the cleartext (the decrypt target is <= 2x this)
#     and, for reference, of the encrypted file.
# Prints wall-clock seconds and leaves/s and CPU seconds (best of RUNS each), and the ratios
# of both.
#   usage: bench/sops.sh [LEAVES] [RUNS]
# Needs: sops 3.11 (scripts/deps/sops.sh), age-keygen. Builds release binaries first.
set -euo pipefail
cd "$(dirname "$0")/.."
LEAVES=${1:-100000}
RUNS=${2:-3}
cargo build --release --quiet -p seal --bin seal -p sealer --example sops_parse_emit
. bench/common.sh
TARGET="$(target_dir)/release"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
age-keygen -o "$WORK/key.txt" 2>/dev/null
RECIPIENT=$(grep -o 'age1[0-9a-z]*' "$WORK/key.txt" | head -1)
export SOPS_AGE_KEY_FILE="$WORK/key.txt" SOPS_DISABLE_VERSION_CHECK=1
python3 - "$WORK" "$LEAVES" "$RUNS" "$TARGET" "$RECIPIENT" <<'PY'
import os, random, string, subprocess, sys, time
work, leaves, runs, target, recipient = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rng = random.Random(7)
per = 100
# 100 bytes a leaf: "    key_NN: " + value + "\n"; 10 MB for 100k leaves.
width = 89
plain = os.path.join(work, "big.yaml")
with open(plain, "w") as f:
    for s in range(leaves // per):
        f.write(f"section_{s}:\n")
        for k in range(per):
            v = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(width - len(str(k))))
            f.write(f"    key_{k}: {v}\n")
size = os.path.getsize(plain)
seal = os.path.join(target, "seal")
parse_emit = os.path.join(target, "examples", "sops_parse_emit")
path = lambda name: os.path.join(work, name)

def best(argv, out):
    """Best wall-clock and best CPU (user+sys) seconds of RUNS runs; CPU time is the steadier
    figure on a shared machine."""
    walls, cpus = [], []
    for _ in range(runs):
        with open(out, "wb") as o:
            t = time.perf_counter()
            child = subprocess.Popen(argv, stdout=o)
            _, status, usage = os.wait4(child.pid, 0)
            walls.append(time.perf_counter() - t)
            child.returncode = os.waitstatus_to_exitcode(status)
            if child.returncode != 0:
                sys.exit(f"{argv[0]} failed with {child.returncode}")
            cpus.append(usage.ru_utime + usage.ru_stime)
    return min(walls), min(cpus)

r = {}
r["seal encrypt"] = best([seal, "encrypt", "--age", recipient, plain], path("seal.enc.yaml"))
r["sops encrypt"] = best(["sops", "encrypt", "--age", recipient, plain], path("sops.enc.yaml"))
r["seal decrypt"] = best([seal, "decrypt", path("sops.enc.yaml")], path("seal.dec.yaml"))
r["sops decrypt"] = best(["sops", "decrypt", path("sops.enc.yaml")], path("sops.dec.yaml"))
r["parse+emit"] = best([parse_emit, plain], path("pe.yaml"))
r["parse+emit enc"] = best([parse_emit, path("sops.enc.yaml")], path("pe-enc.yaml"))

# The timed runs must have done the same work: same cleartext from both tools, and each
# tool opens the other's encryption.
read = lambda p: open(p, "rb").read()
assert read(path("seal.dec.yaml")) == read(path("sops.dec.yaml")), "seal and sops decrypt the same file differently"
assert read(path("sops.dec.yaml")) == read(path("pe.yaml")), "sops's cleartext differs from a parse+emit of the input"
x = subprocess.run(["sops", "decrypt", path("seal.enc.yaml")], capture_output=True, check=True).stdout
assert x == read(path("sops.dec.yaml")), "sops cannot decrypt seal's file to the same cleartext"

enc_size = os.path.getsize(path("sops.enc.yaml"))
print(f"input: {size/1e6:.1f} MB cleartext, {enc_size/1e6:.1f} MB encrypted, {leaves} leaves, best of {runs} runs")
print(f"{'':15s} {'wall s':>8s} {'leaves/s':>12s} {'cpu s':>8s}")
for name, (wall, cpu) in r.items():
    print(f"{name:15s} {wall:8.3f} {leaves/wall:12.0f} {cpu:8.3f}")
for kind, i in (("wall", 0), ("cpu", 1)):
    ratio = lambda a, b: r[a][i] / r[b][i]
    print(f"{kind}: encrypt: seal is {ratio('sops encrypt', 'seal encrypt'):.1f}x faster than sops (target >= 3x)")
    print(f"{kind}: decrypt: seal is {ratio('sops decrypt', 'seal decrypt'):.1f}x faster than sops (target >= 3x)")
    print(f"{kind}: decrypt / parse+emit of the cleartext = {ratio('seal decrypt', 'parse+emit'):.2f} (target <= 2)")
    print(f"{kind}: decrypt / parse+emit of the encrypted file = {ratio('seal decrypt', 'parse+emit enc'):.2f}")
PY
