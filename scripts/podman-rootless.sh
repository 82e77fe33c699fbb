#!/usr/bin/env bash
# Rootless Podman for an unprivileged user (default `wasandbox`), for tests and root-run quick
# starts. Idempotent; run as root. Installs Podman when missing, creates the user (useradd gives
# it /etc/subuid and /etc/subgid ranges), writes a containers.conf for these hosts (runc, since
# crun fails on hybrid cgroups; ulimits within the host's hard limits), starts
# `podman system service` for the user (no systemd here) and prints PODMAN_SOCKET=... last.
set -euo pipefail
user="${PODMAN_USER:-wasandbox}"
if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1 || ! command -v newuidmap >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc uidmap slirp4netns catatonit curl >&2
fi
if ! id "$user" >/dev/null 2>&1; then
  useradd -m -s /usr/sbin/nologin "$user"
fi
uid=$(id -u "$user")
home=$(getent passwd "$user" | cut -d: -f6)
grep -q "^$user:" /etc/subuid || usermod --add-subuids 100000-165535 "$user"
grep -q "^$user:" /etc/subgid || usermod --add-subgids 100000-165535 "$user"

# Podman's default rootless network (slirp4netns) opens /dev/net/tun. Distributions leave it
# 0666 (making an interface still needs CAP_NET_ADMIN in the user's own namespace); some hosts
# make it root-only, and then no session could reach WhatsApp.
if [ ! -e /dev/net/tun ]; then
  mkdir -p /dev/net && mknod /dev/net/tun c 10 200 2>/dev/null || echo "no /dev/net/tun: use SANDBOX_NETWORK=none or host" >&2
fi
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
  chmod 0666 /dev/net/tun
  echo "made /dev/net/tun usable by rootless Podman (0666, the distributions' default)" >&2
fi

# More than about 95 containers need a larger kernel key quota than an unprivileged user has.
bash "$(dirname "$0")/kernel-keys.sh" >&2

runtime_dir="/run/user/$uid"
mkdir -p "$runtime_dir"
chown "$user:" "$runtime_dir"
chmod 700 "$runtime_dir"
install -d -o "$user" -g "$user" -m 700 "$runtime_dir/podman"

conf="$home/.config/containers/containers.conf"
mkdir -p "$(dirname "$conf")"
cat > "$conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"
CONF
chown -R "$user:" "$home/.config"

socket="$runtime_dir/podman/podman.sock"
# Overlay, not vfs (see podman-storage.sh); a service still on the old store is stopped there
# and started again below.
bash "$(dirname "$0")/podman-storage.sh" "$user" | tail -n 1
as_user() {
  runuser -u "$user" -- env HOME="$home" XDG_RUNTIME_DIR="$runtime_dir" CONTAINERS_CONF="$conf" "$@"
}
ping_socket() {
  curl -fsS --max-time 2 --unix-socket "$socket" http://d/v4.0.0/libpod/_ping >/dev/null 2>&1
}
if ! ping_socket; then
  cd /
  rm -f "$socket" # left by a service that did not outlive its session
  # setsid: the service outlives this script and the shell that ran it.
  as_user setsid podman system service --time=0 "unix://$socket" </dev/null >"$runtime_dir/podman-service.log" 2>&1 &
  for _ in $(seq 1 100); do
    ping_socket && break
    sleep 0.1
  done
  ping_socket || { echo "podman system service did not answer on $socket:" >&2; cat "$runtime_dir/podman-service.log" >&2; exit 1; }
fi
echo "PODMAN_USER=$user"
echo "PODMAN_SOCKET=$socket"
