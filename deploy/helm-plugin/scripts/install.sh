#!/bin/sh
# Links the `seal` binary into the plugin directory, where helm runs downloaders from.
set -eu
seal="${SEAL_BIN:-}"
if [ -z "$seal" ]; then
  seal=$(command -v seal) || { echo "sealkit: \`seal\` is not on PATH (set SEAL_BIN)" >&2; exit 1; }
fi
mkdir -p "$HELM_PLUGIN_DIR/bin"
ln -sf "$seal" "$HELM_PLUGIN_DIR/bin/seal"
