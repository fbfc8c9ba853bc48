#!/usr/bin/env bash
# ExternalSecret bridge at scale, all figures from one run on this machine:
#  - N ExternalSecrets (default 1,000), each reading its own key from a real OpenBao dev server,
#    refreshInterval 10s, reconciled by a release `seal-controller` against the API-server
#    harness (`kube-harness`, a separate process);
#  - staleness: every upstream value is changed, and the time until each Secret holds the new
#    value is measured from a watch (p50/p99/max; target p99 <= refreshInterval + 1 s);
#  - controller CPU per refresh in steady state (/proc utime+stime over the
#    `sealkit_externalsecret_sync_calls_total` delta).
# No ESO can run here (no Go toolchain for it, no cluster), so there is no reference ratio.
#   usage: bench/eso.sh [COUNT] [INTERVAL_SECONDS]
# Needs: bao (scripts/deps/servers.sh), kubectl, python3. Builds release binaries first.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-1000}
INTERVAL=${2:-10}
cargo build --release --quiet -p seal-controller --bin seal-controller -p sealkit-tests --bin kube-harness
. bench/common.sh
TARGET="$(target_dir)/release"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  rc=$?
  if [ "$rc" -ne 0 ] && [ -f "$WORK/controller.log" ]; then
    echo "--- controller log (last 40 lines) ---" >&2
    grep -v "secret synced" "$WORK/controller.log" | tail -40 >&2
  fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

BAO_PORT=$(free_port)
bao server -dev -dev-no-store-token -dev-root-token-id=bench-root -dev-listen-address=127.0.0.1:$BAO_PORT >"$WORK/bao.log" 2>&1 &
PIDS+=($!)
KUBE_PORT=$(free_port)
"$TARGET/kube-harness" --port "$KUBE_PORT" --kubeconfig "$WORK/kubeconfig" >"$WORK/harness.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  [ -s "$WORK/kubeconfig" ] && curl -sf "http://127.0.0.1:$BAO_PORT/v1/sys/health" >/dev/null && break
  sleep 0.2
done
kubectl --kubeconfig "$WORK/kubeconfig" apply -k deploy/crds >/dev/null

API_PORT=$(free_port)
METRICS_PORT=$(free_port)
python3 - "$COUNT" "$INTERVAL" "$BAO_PORT" "$KUBE_PORT" "$METRICS_PORT" "$API_PORT" "$TARGET/seal-controller" "$WORK" <<'PY'
import base64, json, os, subprocess, sys, threading, time, urllib.request
count, interval, bao_port, kube_port, metrics_port, api_port = map(int, sys.argv[1:7])
controller_bin, work = sys.argv[7:9]
BAO = f"http://127.0.0.1:{bao_port}"
KUBE = f"http://127.0.0.1:{kube_port}"
NS = "bench"

def call(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read()
        return json.loads(text) if text else None

def bao_put(i, value):
    call("POST", f"{BAO}/v1/secret/data/bench/s{i}", {"data": {"value": value}},
         {"X-Vault-Token": "bench-root"})

def kube(method, path, body=None):
    return call(method, KUBE + path, body)

for i in range(count):
    bao_put(i, "v0")
kube("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
kube("POST", f"/api/v1/namespaces/{NS}/secrets", {"apiVersion": "v1", "kind": "Secret",
     "metadata": {"name": "vault-token"}, "stringData": {"token": "bench-root"}})
es_base = f"/apis/external-secrets.io/v1/namespaces/{NS}"
kube("POST", f"{es_base}/secretstores", {"apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
     "metadata": {"name": "vault"}, "spec": {"provider": {"vault": {"server": BAO, "path": "secret",
     "version": "v2", "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}}}}})
t0 = time.time()
for i in range(count):
    if i and i % 250 == 0:
        print(f"  created {i} ExternalSecrets in {time.time() - t0:.1f} s", flush=True)
    kube("POST", f"{es_base}/externalsecrets", {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
         "metadata": {"name": f"s{i}"}, "spec": {"refreshInterval": f"{interval}s",
         "secretStoreRef": {"name": "vault", "kind": "SecretStore"},
         "data": [{"secretKey": "value", "remoteRef": {"key": f"bench/s{i}", "property": "value"}}]}})

def secrets():
    lst = kube("GET", f"/api/v1/namespaces/{NS}/secrets?labelSelector=reconcile.external-secrets.io/managed%3Dtrue")
    return lst

print(f"  created {count} ExternalSecrets in {time.time() - t0:.1f} s (controller not running yet)", flush=True)
# The controller starts over the existing objects: the initial sync is one burst, as after a
# restart or upgrade.
log = open(f"{work}/controller.log", "w")
proc = subprocess.Popen([controller_bin, "--key-size=2048", "--external-secrets=true", f"--listen-addr=127.0.0.1:{api_port}",
                         f"--listen-metrics-addr=127.0.0.1:{metrics_port}", "--log-level=info"],
                        env={**os.environ, "KUBECONFIG": f"{work}/kubeconfig"}, stdout=log, stderr=log)
pid = proc.pid
import atexit
atexit.register(lambda: proc.poll() is None and proc.terminate())
t0 = time.time()
last_print = time.time()
while True:
    lst = secrets()
    if len(lst["items"]) >= count:
        break
    if time.time() - last_print > 15:
        print(f"  {len(lst['items'])} Secrets after {time.time() - t0:.0f} s", flush=True)
        last_print = time.time()
    if time.time() - t0 > 300:
        sys.exit(f"only {len(lst['items'])} of {count} Secrets after 300 s")
    time.sleep(0.5)
initial = time.time() - t0
print(f"controller start → all {count} Secrets written: {initial:.1f} s (includes generating its sealing key)")

def cpu_seconds():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def sync_calls():
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("sealkit_externalsecret_sync_calls_total"):
            total += float(line.split()[-1])
    return total

# Steady state: two full refresh periods.
time.sleep(interval)
c0, s0, w0 = cpu_seconds(), sync_calls(), time.time()
time.sleep(2 * interval)
c1, s1, w1 = cpu_seconds(), sync_calls(), time.time()
refreshes = s1 - s0
print(f"steady state: {refreshes:.0f} refreshes in {w1 - w0:.1f} s ({refreshes / (w1 - w0):.1f}/s), "
      f"controller CPU {c1 - c0:.2f} s = {(c1 - c0) / max(refreshes, 1) * 1000:.3f} ms per refresh "
      f"({(c1 - c0) / (w1 - w0) * 100:.1f}% of one core)")

# Staleness: watch the Secrets, change every upstream value, time each Secret's update.
rv = secrets()["metadata"]["resourceVersion"]
seen = {}
done = threading.Event()
def watch():
    req = urllib.request.Request(f"{KUBE}/api/v1/namespaces/{NS}/secrets?watch=true&resourceVersion={rv}")
    with urllib.request.urlopen(req, timeout=interval * 6) as r:
        for line in r:
            ev = json.loads(line)
            obj = ev.get("object", {})
            name = obj.get("metadata", {}).get("name", "")
            v = (obj.get("data") or {}).get("value")
            if v and base64.b64decode(v) == b"v1" and name not in seen:
                seen[name] = time.time()
                if len(seen) >= count:
                    done.set()
                    return
threading.Thread(target=watch, daemon=True).start()
time.sleep(0.5)
written = {}
for i in range(count):
    written[f"s{i}"] = time.time()
    bao_put(i, "v1")
done.wait(timeout=interval * 5)
stale = sorted(seen[n] - written[n] for n in seen if n in written)
missing = count - len(stale)
def pct(p):
    return stale[min(len(stale) - 1, int(round(p / 100 * (len(stale) - 1))))]
print(f"staleness after an upstream change (refreshInterval {interval}s, {len(stale)} Secrets): "
      f"p50 {pct(50):.2f} s, p99 {pct(99):.2f} s, max {stale[-1]:.2f} s "
      f"(target p99 <= {interval + 1} s: {'met' if pct(99) <= interval + 1 else 'NOT met'})"
      + (f"; {missing} not updated within {interval * 5} s" if missing else ""))
PY
warnings=$(grep -c "WARN" "$WORK/controller.log" || true)
echo "controller warnings during the run: $warnings"
if [ "$warnings" -gt 0 ]; then
  grep "WARN" "$WORK/controller.log" | sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^[^ ]* *//' -e 's/namespace=[^ ]* name=[^ ]* //' | sort | uniq -c | sort -rn | head -5
fi
