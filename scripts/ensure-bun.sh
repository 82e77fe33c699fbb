#!/usr/bin/env bash
# Installs Bun from the npm registry (the binary ships inside the package) when it is missing,
# then the project's dependencies. Sourced by the run and test scripts.
set -euo pipefail
if ! command -v bun >/dev/null 2>&1; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is needed to install Bun: apt-get install -y nodejs npm" >&2
    exit 1
  fi
  echo "Installing Bun with npm..." >&2
  npm install -g bun@1.4.5 >&2
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bun install --frozen-lockfile >&2
