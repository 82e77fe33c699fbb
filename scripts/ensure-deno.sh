#!/usr/bin/env bash
# Installs Deno from the npm registry (the binary ships inside the package) when it is missing,
# as scripts/ensure-bun.sh does for Bun. Deno runs the API on the dependencies Bun installed
# (deno.json: "nodeModulesDir": "manual"), so it downloads nothing itself.
set -euo pipefail
if ! command -v deno >/dev/null 2>&1; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is needed to install Deno: apt-get install -y nodejs npm" >&2
    exit 1
  fi
  echo "Installing Deno with npm..." >&2
  npm install -g deno@2.9.6 >&2
fi
deno --version >&2
