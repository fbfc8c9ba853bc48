#!/usr/bin/env bash
# Peak memory of `seal` on large generated inputs, against the target of issue 14:
#   peak RSS <= 3 x the input file + 32 MiB
# for each of:
#   - seal:    a Secret with one MB-sized `stringData` value (default 200 MB);
#   - encrypt: a SOPS YAML file with that one value, and a file of KEYS small values
#              (default 1,000,000: `key_NNNNNNN: value_NNNNNNN`);
#   - decrypt: the two files `seal encrypt` wrote.
# Peak RSS is the kernel's maxrss of each child (getrusage), printed in MiB with the input size,
# the target and whether it is met. No thresholds fail the script: it reports.
#   usage: bench/memory.sh [MB] [KEYS]
# Needs: age-keygen, python3. Builds the release `seal` first (SEALKIT_BIN_DIR=<dir> to use
# prebuilt binaries instead).
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-200}
KEYS=${2:-1000000}
if [ -z "${SEALKIT_BIN_DIR:-}" ]; then
  cargo build --release --quiet -p seal --bin seal
  SEALKIT_BIN_DIR="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release"
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
age-keygen -o "$WORK/key.txt" 2>/dev/null
RECIPIENT=$(grep -o 'age1[0-9a-z]*' "$WORK/key.txt" | head -1)
export SOPS_AGE_KEY_FILE="$WORK/key.txt"
"$SEALKIT_BIN_DIR/seal" keygen --bits 2048 --out-dir "$WORK/keys" >/dev/null 2>&1
python3 - "$WORK" "$MB" "$KEYS" "$SEALKIT_BIN_DIR/seal" "$RECIPIENT" <<'PY'
import os, resource, subprocess, sys
work, mb, keys, seal, recipient = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]

def value(n):
    # Printable, no YAML indicator: a plain scalar, as a long token would be.
    chunk = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/" * 16384
    out = bytearray()
    while len(out) < n:
        out += chunk
    return bytes(out[:n])

def write(name, data):
    path = os.path.join(work, name)
    with open(path, "wb") as f:
        f.write(data)
    return path

big = value(mb * 1000 * 1000)
secret = write("secret.yaml", b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: big\n  namespace: bench\nstringData:\n  value: " + big + b"\n")
one = write("one.yaml", b"value: " + big + b"\n")
del big
many = write("many.yaml", b"".join(b"key_%07d: value_%07d\n" % (i, i) for i in range(keys)))

def run(label, args, input_path):
    # maxrss of RUSAGE_CHILDREN is the largest of all children so far: run each in its own
    # process (this helper forks a fresh python for it).
    code = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "sys.stderr.write(r.stderr.decode()[-400:])\n"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code] + args, capture_output=True, text=True)
    rc, kib = out.stdout.split()
    if int(rc) != 0:
        print(f"{label}: failed (exit {rc}): {out.stderr.strip()}")
        return
    size = os.path.getsize(input_path) / 2**20
    peak = int(kib) / 1024
    target = 3 * size + 32
    verdict = "met" if peak <= target else "NOT met"
    print(f"{label:<34} input {size:8.1f} MiB  peak RSS {peak:8.1f} MiB  "
          f"({peak / size:4.2f}x)  target {target:8.1f} MiB  {verdict}")

cert = os.path.join(work, "keys", "tls.crt")
print(f"seal {seal}")
run(f"seal ({mb} MB value)", [seal, "--cert", cert, secret], secret)
enc_one, enc_many = os.path.join(work, "one.enc.yaml"), os.path.join(work, "many.enc.yaml")
subprocess.run([seal, "encrypt", "--age", recipient, "--output", enc_one, one], check=True)
subprocess.run([seal, "encrypt", "--age", recipient, "--output", enc_many, many], check=True)
run(f"encrypt ({mb} MB value)", [seal, "encrypt", "--age", recipient, one], one)
run(f"encrypt ({keys:,} keys)", [seal, "encrypt", "--age", recipient, many], many)
run(f"decrypt ({mb} MB value)", [seal, "decrypt", enc_one], enc_one)
run(f"decrypt ({keys:,} keys)", [seal, "decrypt", enc_many], enc_many)
PY
