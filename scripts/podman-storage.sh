#!/usr/bin/env bash
# Makes a rootless Podman user store images with overlay, not vfs (run as root):
#
#   bash scripts/podman-storage.sh <user> [--dry-run]
#
# Why: with vfs every container gets its own full copy of the sandbox image, so no two sandboxes
# share the executable's pages (about 43 MiB each) and every create copies the image first. With
# overlay all containers of one image run the same inode. Native overlay (kernel 5.13 and later)
# is chosen when it works, else fuse-overlayfs (installed when missing); never vfs silently.
# PODMAN_STORAGE_DRIVER=vfs keeps vfs on purpose.
#
# An existing vfs store is moved over: Podman pins the driver in its database, so the store is
# reset. Session volumes (each session's WhatsApp link) are exported first and imported again
# with their labels; containers and images are not kept: rebuild the image
# (`bun run sandbox:build`) and start the sessions again (their link is kept, no new QR).
# A Podman service of the user's that still holds the old store is stopped first (its socket
# unit too, under systemd); the caller starts it again. Says "ok: …", "would: …" or "changed: …"
# on stderr and prints `PODMAN_STORAGE_DRIVER=<driver>` last.
set -euo pipefail
user="${1:?usage: podman-storage.sh <user> [--dry-run]}"
dry_run=0
[ "${2:-}" = "--dry-run" ] && dry_run=1
uid=$(id -u "$user")
home=$(getent passwd "$user" | cut -d: -f6)
conf_dir="$home/.config/containers"
storage_conf="$conf_dir/storage.conf"
as_user() {
  (cd / && runuser -u "$user" -- env HOME="$home" XDG_RUNTIME_DIR="/run/user/$uid" "$@")
}
current_driver() {
  # Last line: Podman prints a config file it cannot parse on stdout, then goes on with defaults.
  as_user podman info --format '{{.Store.GraphDriverName}}' 2>/dev/null | tail -n 1 || true
}
say() { printf '%s\n' "$*" >&2; }

# The driver in use now. Podman that cannot read its state is an error, never "no store": the
# reset below would take the sessions' volumes with it. One case is mended: the user's processes
# were killed (not a reboot, which empties /run/user) while containers ran, and Podman finds
# neither its pause process nor their conmon; it names `podman system migrate` (stops those
# containers, keeps everything) as the way out.
store_driver() {
  local driver err
  driver=$(current_driver)
  if [ -z "$driver" ]; then
    err=$(as_user podman info 2>&1 >/dev/null || true)
    if grep -q "podman system migrate" <<<"$err"; then
      say "Podman's state for $user outlived its processes: running \`podman system migrate\`"
      as_user podman system migrate >/dev/null 2>&1 || true
      driver=$(current_driver)
      [ -n "$driver" ] || err=$(as_user podman info 2>&1 >/dev/null || true)
    fi
  fi
  if [ -z "$driver" ]; then
    say "podman info fails for $user, so nothing was changed:"
    grep -v 'is not a shared mount' <<<"$err" >&2 || true
    exit 1
  fi
  echo "$driver"
}

want="${PODMAN_STORAGE_DRIVER:-overlay}"
have=$(store_driver)
if [ "$have" = "$want" ]; then
  say "ok: $user stores images with $have"
  echo "PODMAN_STORAGE_DRIVER=$have"
  exit 0
fi
if [ "$dry_run" = 1 ]; then
  say "would: switch $user's Podman storage from $have to $want (volumes kept, store reset)"
  echo "PODMAN_STORAGE_DRIVER=$have"
  exit 0
fi

# Nothing may hold the old store while it is reset: the user's service (socket-activated under
# systemd, or started by hand) is stopped.
if [ -S "/run/user/$uid/bus" ]; then
  as_user env DBUS_SESSION_BUS_ADDRESS="unix:path=/run/user/$uid/bus" systemctl --user stop podman.socket podman.service 2>/dev/null || true
fi
if pkill -u "$user" -f "podman system service" 2>/dev/null; then sleep 1; fi

# Volumes first (while the old driver can still read them): the sessions' links live there.
backup=""
if [ "$(as_user podman volume ls -q | wc -l)" != 0 ]; then
  backup=$(mktemp -d /var/tmp/podman-volumes.XXXXXX)
  chown "$user:" "$backup"
  chmod 700 "$backup"
  while IFS= read -r vol; do
    as_user podman volume inspect --format '{{range $k, $v := .Labels}}{{$k}}={{$v}}{{"\n"}}{{end}}' "$vol" >"$backup/$vol.labels"
    as_user podman volume export "$vol" --output "$backup/$vol.tar"
  done < <(as_user podman volume ls -q)
  say "exported $(ls "$backup"/*.tar | wc -l) volume(s) of $user to $backup"
fi
# Containers hold the volumes; the reset removes both, and the images.
as_user podman system reset --force >/dev/null 2>&1 || true

write_conf() {
  install -d -o "$user" -g "$user" -m 755 "$conf_dir"
  printf '%s\n' "# Written by scripts/podman-storage.sh: overlay shares the sandbox image's pages between containers." \
    "[storage]" "driver = \"$1\"" >"$storage_conf"
  if [ -n "${2:-}" ]; then printf '%s\n' "" "[storage.options.overlay]" "mount_program = \"$2\"" >>"$storage_conf"; fi
  chown "$user:" "$storage_conf"
}
if [ "$want" = overlay ]; then
  write_conf overlay
  if [ "$(current_driver)" != overlay ]; then
    say "native overlay does not work for $user here: using fuse-overlayfs"
    command -v fuse-overlayfs >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse-overlayfs >&2
    as_user podman system reset --force >/dev/null 2>&1 || true
    write_conf overlay /usr/bin/fuse-overlayfs
  fi
else
  write_conf "$want"
fi
got=$(current_driver)
if [ "$got" != "$want" ]; then
  say "could not switch $user's Podman storage to $want (it is ${got:-unusable}); see $storage_conf"
  exit 1
fi

if [ -n "$backup" ]; then
  for tar in "$backup"/*.tar; do
    vol=$(basename "$tar" .tar)
    labels=()
    while IFS= read -r l; do [ -n "$l" ] && labels+=(--label "$l"); done <"$backup/$vol.labels"
    as_user podman volume create "${labels[@]}" "$vol" >/dev/null
    as_user podman volume import "$vol" "$tar"
  done
  rm -rf "$backup"
  say "imported the volumes again into the $got store"
fi
say "changed: $user stores images with $got (was $have)"
echo "PODMAN_STORAGE_DRIVER=$got"
