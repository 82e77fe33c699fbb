#!/usr/bin/env bash
# Sets up and runs the API on a fresh Debian/Ubuntu host: Bun and the dependencies, a rootless
# Podman service, the sandbox image, then the egress gateway (`bun run egress`) and `bun run start`. As root, sessions run in the rootless
# Podman of the unprivileged user `wasandbox`; as any other user, in that user's own.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-bun.sh
if [ -z "${PODMAN_SOCKET:-}" ]; then
  if [ "$(id -u)" = 0 ]; then
    podman=$(bash scripts/podman-rootless.sh) # assigned first: a failed setup stops here
    eval "$(grep '^PODMAN_SOCKET=' <<<"$podman")"
  else
    if ! command -v podman >/dev/null 2>&1; then
      echo "Podman is missing: sudo apt-get install -y podman runc uidmap slirp4netns" >&2
      exit 1
    fi
    export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}"
    PODMAN_SOCKET="$XDG_RUNTIME_DIR/podman/podman.sock"
    if ! curl -fsS --unix-socket "$PODMAN_SOCKET" http://d/v4.0.0/libpod/_ping >/dev/null 2>&1; then
      systemctl --user enable --now podman.socket 2>/dev/null ||
        (nohup podman system service --time=0 "unix://$PODMAN_SOCKET" >/dev/null 2>&1 &)
      for _ in $(seq 1 50); do
        curl -fsS --unix-socket "$PODMAN_SOCKET" http://d/v4.0.0/libpod/_ping >/dev/null 2>&1 && break
        sleep 0.2
      done
    fi
  fi
fi
export PODMAN_SOCKET
# ffmpeg converts voice notes and reads videos (media); without it those sends answer 422.
if ! command -v ffmpeg >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg >&2 || echo "ffmpeg could not be installed: voice notes other than Ogg Opus will answer 422" >&2
  else
    echo "ffmpeg is missing (sudo apt-get install -y ffmpeg): voice notes other than Ogg Opus will answer 422" >&2
  fi
fi
# As root, the channel socket goes where the rootless Podman user can reach it to bind-mount
# it into containers (the checkout may sit in root's private home).
if [ "$(id -u)" = 0 ] && [ -z "${CHANNEL_URL:-}" ]; then
  export CHANNEL_SOCKET="${CHANNEL_SOCKET:-/run/wa-session-api/channel/channel.sock}"
fi
# The same for the egress gateway's folder: each session's socket is bind-mounted from it.
if [ "$(id -u)" = 0 ]; then
  export EGRESS_DIR="${EGRESS_DIR:-/run/wa-session-api/egress}"
fi
bun run sandbox:build --if-missing
# The egress gateway (the sessions' only way out) runs beside the API and stops with this script;
# under systemd it is its own unit, so the API restarts without cutting sessions.
bun run egress &
egress=$!
trap 'kill "$egress" 2>/dev/null' EXIT
bun run start
