#!/usr/bin/env bash
# The sealing page (issue 18) in headless Chromium: the time to seal 100 items in the page
# (target < 1 s), printed, not asserted. The page is served by a release `seal-controller`
# (its own RSA-4096 key) against the API-server harness (`kube-harness`), as in a cluster.
#   usage: bench/web.sh [ITEMS] [--screenshots]
# --screenshots also rewrites docs/sealing-page-{light,dark,phone}.png (the README's pictures).
# Needs: chromium + chromium-driver (scripts/deps/web.sh), kubectl, python3. Builds release
# binaries first, unless SEALKIT_BIN_DIR names a directory holding seal-controller and
# kube-harness (the page's own timing does not depend on how the server was built).
set -euo pipefail
cd "$(dirname "$0")/.."
ITEMS=100
SHOTS=0
for arg in "$@"; do
  case "$arg" in
    --screenshots) SHOTS=1 ;;
    *) ITEMS=$arg ;;
  esac
done
bash scripts/deps/web.sh
if [ -n "${SEALKIT_BIN_DIR:-}" ]; then
  TARGET=$SEALKIT_BIN_DIR
else
  cargo build --release --quiet -p seal-controller --bin seal-controller -p sealkit-tests --bin kube-harness
  TARGET=${CARGO_TARGET_DIR:-target}/release
fi
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  rc=$?
  if [ "$rc" -ne 0 ] && [ -f "$WORK/controller.log" ]; then
    echo "--- controller log (last 20 lines) ---" >&2
    tail -20 "$WORK/controller.log" >&2
  fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_url() {
  for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.2; done
  echo "timed out waiting for $1" >&2
  return 1
}

KUBE_PORT=$(free_port)
"$TARGET/kube-harness" --port "$KUBE_PORT" --kubeconfig "$WORK/kubeconfig" >"$WORK/harness.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/kubeconfig" ] && break; sleep 0.1; done
kubectl --kubeconfig "$WORK/kubeconfig" apply -k deploy/crds >/dev/null

API_PORT=$(free_port)
METRICS_PORT=$(free_port)
KUBECONFIG="$WORK/kubeconfig" "$TARGET/seal-controller" --key-namespace=kube-system \
  --listen-addr="127.0.0.1:$API_PORT" --listen-metrics-addr="127.0.0.1:$METRICS_PORT" \
  >"$WORK/controller.log" 2>&1 &
PIDS+=($!)
wait_url "http://127.0.0.1:$API_PORT/v1/cert.pem"

DRIVER_PORT=$(free_port)
chromedriver --port="$DRIVER_PORT" >"$WORK/chromedriver.log" 2>&1 &
PIDS+=($!)
wait_url "http://127.0.0.1:$DRIVER_PORT/status"

PAGE="http://127.0.0.1:$API_PORT/"
echo "sealing $ITEMS items in the page ($(chromium --version 2>/dev/null | head -1), headless; RSA-4096 key)"
python3 bench/web_page.py bench --driver "http://127.0.0.1:$DRIVER_PORT" --page "$PAGE" --items "$ITEMS"
if [ "$SHOTS" = 1 ]; then
  python3 bench/web_page.py screenshots --driver "http://127.0.0.1:$DRIVER_PORT" --page "$PAGE" --out docs
fi
