#!/usr/bin/env bash
# `seal reseal` offline, all figures from one run on this machine:
#   a tree of 1,000 SealedSecrets x 3 items (sealed for an old RSA-4096 key, in 100 directories
#   of 10 files, half YAML with comments, half kubeseal-style JSON) re-sealed for a new key with
#   the whole key backup given (old and new private keys): wall time against
#   3,000 x `openssl speed rsa4096` private-op time / cores, measured in the same run
#   (target <= 1.15, the controller's cold-start bar). Each item costs one RSA private op
#   (the key that opened most items so far is tried first) and one public op.
# SEALKIT_BIN_DIR=<dir> runs a prebuilt `seal` from there instead of building a release one.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
if [ -n "${SEALKIT_BIN_DIR:-}" ]; then
  seal="$SEALKIT_BIN_DIR/seal"
else
  cargo build --release -p seal --quiet
  seal="$(target_dir)/release/seal"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cores=$(nproc)

"$seal" keygen --bits 4096 --out-dir "$work/old" 2>/dev/null
"$seal" keygen --bits 4096 --out-dir "$work/new" 2>/dev/null

# 1,000 Secrets, sealed for the old key with `seal` itself (one stream), then spread over a tree.
python3 - "$work/stream.yaml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1000):
        f.write(f"---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s{i}\n  namespace: bench\n"
                f"stringData:\n  username: user{i}\n  password: pass-{i}-xxxxxxxxxxxxxxxx\n  token: tok-{i}-yyyyyyyyyyyyyyyyyyyyyyyy\n")
PY
"$seal" "$work/stream.yaml" --cert "$work/old/tls.crt" --format json > "$work/sealed.json"
python3 - "$work/sealed.json" "$work/tree" <<'PY'
import json, os, sys
text = open(sys.argv[1]).read()
decoder, objects, pos = json.JSONDecoder(), [], 0
while pos < len(text):
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos >= len(text):
        break
    obj, pos = decoder.raw_decode(text, pos)
    objects.append(obj)
assert len(objects) == 1000, len(objects)
for i, obj in enumerate(objects):
    d = os.path.join(sys.argv[2], f"app{i // 10:03d}")
    os.makedirs(d, exist_ok=True)
    if i % 2:
        with open(os.path.join(d, f"s{i}.json"), "w") as f:
            json.dump(obj, f, indent=2)
    else:
        m, data = obj["metadata"], obj["spec"]["encryptedData"]
        with open(os.path.join(d, f"s{i}.yaml"), "w") as f:
            f.write(f"# {m['name']}: managed by the platform team\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\n"
                    f"metadata:\n  name: {m['name']}\n  namespace: {m['namespace']}\nspec:\n  encryptedData:\n")
            for k, v in data.items():
                f.write(f"    {k}: {v}  # rotated yearly\n")
PY

# The reference: RSA-4096 private operations per second on one core. `openssl speed` divides by
# its CPU (user) time, so this figure does not depend on what else the machine runs; the same
# with `-elapsed -multi <cores>` divides by wall time with every core busy, i.e. under the same
# contention as `seal` (measured just before it).
sign_per_s=$(openssl speed -seconds 3 rsa4096 2>/dev/null | awk '/^rsa 4096 bits/ {print $(NF-1)}')
ref_s=$(python3 -c "print(3000 / float('$sign_per_s') / $cores)")
wall_ops=$(openssl speed -elapsed -seconds 3 -multi "$cores" rsa4096 2>/dev/null \
  | awk '/^rsa 4096 bits/ {print $(NF-1)}')
ref_wall_s=$(python3 -c "print(3000 / float('$wall_ops'))")

cp -r "$work/tree" "$work/run"
start=$(date +%s%N)
/usr/bin/time -f "%U %S" -o "$work/cpu" \
  "$seal" reseal --private-key "$work/old/tls.key,$work/new/tls.key" --cert "$work/new/tls.crt" \
  --output json "$work/run" > "$work/report.json"
end=$(date +%s%N)
took_s=$(python3 -c "print(($end - $start) / 1e9)")
cpu_s=$(awk '{print $1 + $2}' "$work/cpu")
python3 - "$work/report.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
assert (s["files"], s["resealed"], s["failed"], s["resealedItems"]) == (1000, 1000, 0, 3000), s
PY
# A second run finds everything current and writes nothing.
start2=$(date +%s%N)
"$seal" reseal --private-key "$work/old/tls.key,$work/new/tls.key" --cert "$work/new/tls.crt" "$work/run" > /dev/null 2>&1
end2=$(date +%s%N)
load=$(cut -d' ' -f1 /proc/loadavg)

python3 - "$took_s" "$ref_s" "$sign_per_s" "$cores" "$start2" "$end2" "$cpu_s" "$ref_wall_s" "$load" <<'PY'
import sys
took, ref, ops, cores, s2, e2, cpu, ref_wall, load = (float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]),
    int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8]), sys.argv[9])
print(f"openssl speed rsa4096: {ops:.1f} private ops/s per core (CPU time), {cores} cores, load average {load}")
print(f"reference: 3,000 private ops / {cores} cores = {ref:.2f} s")
print(f"seal reseal, 1,000 SealedSecrets x 3 items in 1,000 files: {took:.2f} s  (ratio {took / ref:.2f}, target <= 1.15)")
print(f"  CPU time {cpu:.2f} s against 3,000 private ops = {3000 / ops:.2f} s  (ratio {cpu / (3000 / ops):.2f})")
print(f"  wall time against 3,000 ops of openssl -multi {cores} -elapsed in this run = {ref_wall:.2f} s  (ratio {took / ref_wall:.2f})")
print(f"second run (everything current, nothing written): {(e2 - s2) / 1e9:.2f} s")
PY
