#!/usr/bin/env bash
# The whole test suite on a fresh Debian/Ubuntu host (run as root): installs Bun and the
# dependencies, starts PostgreSQL and a rootless Podman service for an unprivileged user,
# builds the sandbox image when it is missing, then runs `bun test` against all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-bun.sh
eval "$(bash scripts/ensure-postgres.sh | grep '^TEST_DATABASE_URL=')"
eval "$(bash scripts/podman-rootless.sh | grep '^PODMAN_SOCKET=')"
export TEST_DATABASE_URL PODMAN_SOCKET
# Always rebuilt: the tests must run the sandbox code of this checkout (about 5 s).
bun run sandbox:build
exec bun test --timeout 120000 "$@"
