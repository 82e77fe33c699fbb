#!/usr/bin/env bash
# Raises the kernel's per-user key quota (run as root): runc gives every container a session
# keyring, about two keys each, and an unprivileged user may hold 200 keys by default, so past
# about 95 sessions a new container fails with "unable to create session key: disk quota
# exceeded". The quota counts keys, not memory of note (about 70 bytes each).
#
#   bash scripts/kernel-keys.sh [--dry-run]
#
# Writes /etc/sysctl.d/90-wa-session-api.conf (kept across boots) and applies it now; a value
# already at least as high is left alone. Prints "ok: …", "changed: …" or "would: …" lines.
set -euo pipefail
dry_run=0
[ "${1:-}" = "--dry-run" ] && dry_run=1
conf=/etc/sysctl.d/90-wa-session-api.conf
want_keys=20000
want_bytes=2000000
have_keys=$(cat /proc/sys/kernel/keys/maxkeys)
have_bytes=$(cat /proc/sys/kernel/keys/maxbytes)
if [ "$have_keys" -ge "$want_keys" ] && [ "$have_bytes" -ge "$want_bytes" ]; then
  echo "ok: kernel key quota per user is $have_keys keys / $have_bytes bytes"
  exit 0
fi
if [ "$dry_run" = 1 ]; then
  echo "would: raise the kernel key quota per user to $want_keys keys / $want_bytes bytes ($conf)"
  exit 0
fi
mkdir -p "$(dirname "$conf")"
printf '%s\n' "# Written by wa-session-api's scripts/kernel-keys.sh: each session container takes about two keys." \
  "kernel.keys.maxkeys = $want_keys" "kernel.keys.maxbytes = $want_bytes" >"$conf"
if sysctl -q -w "kernel.keys.maxkeys=$want_keys" "kernel.keys.maxbytes=$want_bytes" >/dev/null 2>&1; then
  echo "changed: kernel key quota per user $have_keys -> $want_keys keys, $have_bytes -> $want_bytes bytes"
else
  echo "changed: wrote $conf, but this host did not let it apply now (read-only /proc/sys?): at most about 95 sessions until it does"
fi
