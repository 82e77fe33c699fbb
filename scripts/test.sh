#!/usr/bin/env bash
# The whole test suite on a fresh Debian/Ubuntu host (run as root): installs Bun and the
# dependencies, Debian's chromium (for test/browser), starts PostgreSQL and a rootless Podman
# service for an unprivileged user, builds the sandbox image, then runs `bun test` against all of them.
# Then, with no arguments, the HTTP contract, operations, webhooks and one whole session life once
# more against the API started under Deno (installed like Bun), on PGlite and on PostgreSQL; the
# tests stay Bun's (about two minutes more).
set -euo pipefail
cd "$(dirname "$0")/.."
# Package installs below skip rebuilding the man page index (seconds per install on a fresh host).
if [ "$(id -u)" = 0 ] && command -v debconf-set-selections >/dev/null 2>&1; then
  echo "man-db man-db/auto-update boolean false" | debconf-set-selections
fi
bash scripts/ensure-bun.sh
bash scripts/ensure-deno.sh
# test/browser drives it by path through playwright-core (no browser download); nothing to do when present.
# The emulator's media server makes its test CA with the openssl CLI.
command -v openssl >/dev/null 2>&1 || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y openssl >&2; }
# ffmpeg (and ffprobe) convert voice notes and read videos for the media tests; one install for both.
# dante-server (SOCKS5) and tinyproxy (HTTP CONNECT) are the real proxies the egress tests put
# sessions behind, with authentication, run in the foreground by the tests (test/support/proxies.ts).
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v ffmpeg >/dev/null 2>&1 || missing="$missing ffmpeg"
[ -x /usr/sbin/danted ] || missing="$missing dante-server"
[ -x /usr/bin/tinyproxy ] || missing="$missing tinyproxy"
if [ -n "$missing" ]; then
  apt-get update >&2
  case "$missing" in *chromium*) DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >&2 ;; esac
  case "$missing" in *ffmpeg*) DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg >&2 ;; esac
  case "$missing" in *dante-server* | *tinyproxy*) DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends dante-server tinyproxy >&2 ;; esac
fi
# The packages' own services are not the tests' (their ports and configs): stopped where they started.
for svc in danted tinyproxy; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then systemctl stop "$svc" >&2 || true; fi
  if [ -x "/etc/init.d/$svc" ]; then "/etc/init.d/$svc" stop >/dev/null 2>&1 || true; fi
done
# dante checks SOCKS5 passwords against a system user.
if ! id waproxy >/dev/null 2>&1; then
  useradd --no-create-home --shell /usr/sbin/nologin waproxy
fi
echo "waproxy:proxy-pass-1" | chpasswd
# Assigned first: a failed setup stops here (`eval "$(…)"` would go on with nothing set).
pg=$(bash scripts/ensure-postgres.sh)
podman=$(bash scripts/podman-rootless.sh)
# A second node of the multi-node tests has its own rootless Podman (its own user, containers, volumes).
podman2=$(PODMAN_USER=wasandbox2 bash scripts/podman-rootless.sh)
eval "$(grep '^TEST_DATABASE_URL=' <<<"$pg")"
eval "$(grep '^PODMAN_SOCKET=' <<<"$podman")"
PODMAN_SOCKET_2=$(grep '^PODMAN_SOCKET=' <<<"$podman2" | cut -d= -f2-)
export TEST_DATABASE_URL PODMAN_SOCKET PODMAN_SOCKET_2
# Always rebuilt: the tests must run the sandbox code of this checkout (about 5 s), in both users' stores.
bun run sandbox:build
PODMAN_SOCKET="$PODMAN_SOCKET_2" bun run sandbox:build
status=0
bun test --timeout 120000 "$@" || status=$?
if [ $# -eq 0 ]; then
  echo "--- the API on Deno: contract routes, auth matrix, bad inputs, operations, webhooks, a whole session life (PGlite and PostgreSQL)" >&2
  TEST_API_RUNTIME=deno TEST_E2E_BACKENDS=pglite,postgres bun test --timeout 120000 \
    test/integration/api.test.ts test/integration/http-edges.test.ts test/integration/operations.test.ts \
    test/integration/webhooks.test.ts test/e2e/session-lifecycle.test.ts || status=$?
fi
exit "$status"
