#!/usr/bin/env bash
# Installs (or upgrades) the API as a systemd service, run as root from a checkout:
#
#   sudo bash scripts/install-systemd.sh             # install, or upgrade after `git pull`
#   sudo bash scripts/install-systemd.sh --dry-run   # print what it would do, change nothing
#
# Idempotent: every step looks first and acts only when something differs, so a second run
# changes nothing (and says "ok" for each step). What it does:
#   - the service user (WA_USER, default wa-api) with /etc/subuid and /etc/subgid ranges;
#   - lingering and the user's podman.socket (its own rootless Podman);
#   - the user's image store on overlay, never vfs (an existing vfs store is moved over, the
#     sessions' volumes kept: scripts/podman-storage.sh);
#   - a kernel key quota per user that fits more than about 95 containers (scripts/kernel-keys.sh);
#   - Bun (from npm, as scripts/ensure-bun.sh does) when missing;
#   - the app in PREFIX (default /opt/wa-session-api) and `bun install --production` there;
#   - the sandbox image, built as the service user through its Podman socket;
#   - /etc/wa-session-api/env from systemd/wa-session-api.env.example, only when absent (an
#     operator's env is never overwritten);
#   - the units (the API and its egress gateway, wa-egress.service), a drop-in each naming the
#     user, its uid and PREFIX, then daemon-reload and `systemctl enable --now` (a restart of
#     the API when the app changed: an upgrade; the gateway keeps running, so do sessions).
# Without systemd as PID 1 (containers, some CI hosts) the systemd steps are printed, not run.
#
# DESTDIR=/some/dir stages the files under that root (PREFIX, /etc) and skips every step that
# touches the host's users, Podman or systemd: the test suite installs that way.
set -euo pipefail

usage() {
  sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
}

dry_run=0
for arg in "$@"; do
  case "$arg" in
    --dry-run | -n) dry_run=1 ;;
    --help | -h) usage; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
user="${WA_USER:-wa-api}"
prefix="${PREFIX:-/opt/wa-session-api}"
destdir="${DESTDIR:-}"
destdir="${destdir%/}"
unit_name="wa-session-api.service"
# The egress gateway: its own unit, so restarting or upgrading the API keeps sessions connected.
egress_unit="wa-egress.service"
bun_version="1.4.5" # as scripts/ensure-bun.sh

root_prefix="$destdir$prefix"
etc_dir="$destdir/etc/wa-session-api"
unit_dir="$destdir/etc/systemd/system"
# What ships to PREFIX: the app, its migrations, the sandbox's sources and the fixes `bun install`
# applies to dependencies (patches/); not tests or benches.
app_paths=(package.json bun.lock bunfig.toml tsconfig.json patches src sandbox drizzle systemd scripts README.md)

changed=0
app_changed=0
say() { printf '%s\n' "$*"; }
ok() { say "ok: $*"; }
change() {
  changed=1
  if [ "$dry_run" = 1 ]; then say "would: $*"; else say "changed: $*"; fi
}
skip() { say "skipped: $*"; }
# Runs a command unless this is a dry run.
run() {
  if [ "$dry_run" = 1 ]; then return 0; fi
  "$@"
}

if [ -z "$destdir" ] && [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then
  echo "run this as root (or with --dry-run, or DESTDIR=... to stage the files)" >&2
  exit 1
fi
if [ -n "$destdir" ]; then say "staging under DESTDIR=$destdir: users, Podman and systemd are left alone"; fi

systemd_running=0
if [ -d /run/systemd/system ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then systemd_running=1; fi

# --- the service user, its subordinate ids ---------------------------------------------------
if [ -n "$destdir" ]; then
  skip "service user $user (DESTDIR)"
elif id "$user" >/dev/null 2>&1; then
  ok "user $user exists"
else
  change "create user $user (home /home/$user, no login shell)"
  run useradd --create-home --shell /usr/sbin/nologin --user-group "$user"
fi

# The first free range of 65536 ids after every range already in the file.
next_range() {
  awk -F: 'BEGIN { end = 100000 } NF >= 3 && $2 + $3 > end { end = $2 + $3 } END { print end "-" end + 65535 }' "$1"
}
for kind in uid gid; do
  file="/etc/sub$kind"
  if [ -n "$destdir" ]; then
    skip "sub${kind} range of $user (DESTDIR)"
  elif [ -f "$file" ] && grep -q "^$user:" "$file"; then
    ok "$user has a sub$kind range"
  else
    range=$(next_range "$file" 2>/dev/null || echo "100000-165535")
    change "give $user the sub$kind range $range"
    run usermod "--add-sub${kind}s" "$range" "$user"
  fi
done

uid=""
if id "$user" >/dev/null 2>&1; then uid=$(id -u "$user"); fi
home=""
if [ -n "$uid" ]; then home=$(getent passwd "$user" | cut -d: -f6); fi

# --- lingering and the user's Podman socket ----------------------------------------------------
as_user() {
  runuser -u "$user" -- env HOME="$home" XDG_RUNTIME_DIR="/run/user/$uid" DBUS_SESSION_BUS_ADDRESS="unix:path=/run/user/$uid/bus" "$@"
}
if [ -n "$destdir" ]; then
  skip "lingering and podman.socket of $user (DESTDIR)"
elif [ "$systemd_running" = 0 ]; then
  say "systemd is not PID 1 here: not run, do it where systemd runs:"
  say "  loginctl enable-linger $user"
  say "  runuser -u $user -- env XDG_RUNTIME_DIR=/run/user/\$(id -u $user) systemctl --user enable --now podman.socket"
else
  if [ -f "/var/lib/systemd/linger/$user" ]; then
    ok "lingering of $user is on"
  else
    change "loginctl enable-linger $user"
    run loginctl enable-linger "$user"
    # The user's manager comes up with its bus; podman.socket is enabled through it.
    if [ "$dry_run" = 0 ]; then
      for _ in $(seq 1 100); do [ -S "/run/user/$uid/bus" ] && break; sleep 0.1; done
    fi
  fi
  if [ "$dry_run" = 0 ] || [ -S "/run/user/$uid/bus" ]; then
    if as_user systemctl --user is-enabled --quiet podman.socket 2>/dev/null && as_user systemctl --user is-active --quiet podman.socket 2>/dev/null; then
      ok "podman.socket of $user is enabled and listening"
    else
      change "systemctl --user enable --now podman.socket (as $user)"
      run as_user systemctl --user enable --now podman.socket
    fi
  else
    change "systemctl --user enable --now podman.socket (as $user, once lingering started its manager)"
  fi
fi

# --- the user's image store: overlay, never vfs silently (see scripts/podman-storage.sh) ------
if [ -n "$destdir" ]; then
  skip "Podman storage driver of $user (DESTDIR)"
elif [ -z "$uid" ]; then
  change "make $user's Podman store overlay (once the user exists)"
else
  # It says ok, would or changed itself; a store it moved is rebuilt below (the image).
  storage_line=$(bash "$src/scripts/podman-storage.sh" "$user" $([ "$dry_run" = 1 ] && echo --dry-run) 2>&1 >/dev/null | tail -n 1)
  case "$storage_line" in
    ok:*) say "$storage_line" ;;
    *)
      changed=1
      say "$storage_line"
      # The script stopped the user's Podman socket to reset the store.
      if [ "$dry_run" = 0 ] && [ "$systemd_running" = 1 ]; then as_user systemctl --user start podman.socket || true; fi
      ;;
  esac
fi

# --- the kernel's key quota per user: one session keyring per container --------------------
if [ -n "$destdir" ]; then
  skip "kernel key quota (DESTDIR)"
else
  keys_line=$(bash "$src/scripts/kernel-keys.sh" $([ "$dry_run" = 1 ] && echo --dry-run))
  case "$keys_line" in
    ok:*) say "$keys_line" ;;
    *) changed=1; say "$keys_line" ;;
  esac
fi

# --- Bun ------------------------------------------------------------------------------------
if command -v bun >/dev/null 2>&1; then
  ok "bun $(bun --version) at $(command -v bun)"
elif [ -n "$destdir" ]; then
  skip "installing Bun (DESTDIR), and it is missing"
else
  command -v npm >/dev/null 2>&1 || { echo "npm is needed to install Bun: apt-get install -y nodejs npm" >&2; exit 1; }
  change "npm install -g bun@$bun_version"
  run npm install -g "bun@$bun_version" >&2
fi

# --- ffmpeg: converts voice notes and reads videos sent through the API (media) ----------------
if command -v ffmpeg >/dev/null 2>&1; then
  ok "ffmpeg at $(command -v ffmpeg)"
elif [ -n "$destdir" ]; then
  skip "installing ffmpeg (DESTDIR), and it is missing: voice notes other than Ogg Opus answer 422"
else
  change "apt-get install -y --no-install-recommends ffmpeg"
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg >&2
fi

# --- the app in PREFIX ------------------------------------------------------------------------
# Copies a file when its content or mode differs (so an unchanged tree is not touched at all);
# counts what it copied in `copied`.
copied=0
sync_file() {
  local from="$1" to="$2" mode
  mode=$(stat -c %a "$from")
  if [ -f "$to" ] && cmp -s "$from" "$to" && [ "$(stat -c %a "$to")" = "$mode" ]; then return 0; fi
  copied=$((copied + 1))
  run install -D -m "$mode" "$from" "$to"
}
if [ -d "$root_prefix" ]; then ok "$prefix exists"; else change "create $prefix"; run install -d -m 755 "$root_prefix"; fi
for path in "${app_paths[@]}"; do
  [ -e "$src/$path" ] || continue
  copied=0
  removed=0
  if [ -d "$src/$path" ]; then
    while IFS= read -r -d '' f; do
      sync_file "$f" "$root_prefix/${f#"$src"/}"
    done < <(find "$src/$path" -type f ! -path '*/.build/*' ! -path '*/node_modules/*' -print0 | sort -z)
    # Files an older version had and this one does not.
    if [ -d "$root_prefix/$path" ]; then
      while IFS= read -r -d '' f; do
        rel="${f#"$root_prefix"/}"
        if [ ! -e "$src/$rel" ]; then
          removed=$((removed + 1))
          run rm -f "$f"
        fi
      done < <(find "$root_prefix/$path" -type f ! -path '*/.build/*' ! -path '*/node_modules/*' -print0 | sort -z)
    fi
  else
    sync_file "$src/$path" "$root_prefix/$path"
  fi
  if [ "$copied" != 0 ] || [ "$removed" != 0 ]; then
    app_changed=1
    change "$prefix/$path: copy $copied file(s), remove $removed gone from this version"
  fi
done
if [ "$app_changed" = 0 ]; then ok "app files in $prefix match this checkout"; fi

# The service user writes only the sandbox build's scratch folder (`sandbox:build` at start).
if [ -n "$uid" ] && [ -z "$destdir" ]; then
  if [ -d "$root_prefix/sandbox" ] && [ "$(stat -c %U "$root_prefix/sandbox")" = "$user" ]; then
    ok "$prefix/sandbox belongs to $user"
  else
    change "chown $user $prefix/sandbox (the image build's scratch folder)"
    run chown "$user:" "$root_prefix/sandbox"
  fi
fi

# Dependencies: again only when package.json, bun.lock or a patch changed since the last install.
stamp="$root_prefix/node_modules/.wa-install-stamp"
want_stamp=$(cat "$src/package.json" "$src/bun.lock" "$src"/patches/* | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ]; then
  ok "production dependencies installed"
elif ! command -v bun >/dev/null 2>&1 && [ "$dry_run" = 0 ]; then
  echo "bun is missing: cannot install the dependencies" >&2
  exit 1
else
  app_changed=1
  change "bun install --production --frozen-lockfile in $prefix"
  if [ "$dry_run" = 0 ]; then
    (cd "$root_prefix" && bun install --production --frozen-lockfile >&2)
    printf '%s\n' "$want_stamp" >"$stamp"
  fi
fi

# --- the env file -----------------------------------------------------------------------------
env_file="$etc_dir/env"
if [ -f "$env_file" ]; then
  ok "/etc/wa-session-api/env exists (kept as the operator left it)"
else
  change "write /etc/wa-session-api/env from systemd/wa-session-api.env.example (mode 0600; edit it)"
  run install -d -m 755 "$etc_dir"
  run install -m 600 "$src/systemd/wa-session-api.env.example" "$env_file"
fi

# --- the sandbox image ------------------------------------------------------------------------
if [ -n "$destdir" ]; then
  skip "building the sandbox image (DESTDIR)"
elif [ -z "$uid" ]; then
  change "build the sandbox image as $user (once the user exists)"
else
  socket="/run/user/$uid/podman/podman.sock"
  if curl -fsS --max-time 2 --unix-socket "$socket" http://d/v4.0.0/libpod/_ping >/dev/null 2>&1; then
    # --if-missing: present already, nothing is built (the tag follows the package version).
    if [ "$dry_run" = 1 ]; then
      say "would run as $user: bun run sandbox:build --if-missing (in $prefix)"
    else
      # The tag the service will use: SANDBOX_IMAGE from the env file, else the package version's.
      image=$(sed -n 's/^SANDBOX_IMAGE=//p' "$env_file" 2>/dev/null | tail -n 1)
      say "sandbox image: $(cd "$root_prefix" && as_user env PODMAN_SOCKET="$socket" ${image:+SANDBOX_IMAGE="$image"} bun run sandbox:build --if-missing 2>&1 | tail -n 1)"
    fi
  else
    say "podman socket of $user ($socket) does not answer: the image is built by the unit's ExecStartPre at first start"
  fi
fi

# --- the unit and its drop-in -----------------------------------------------------------------
unit_changed=0
write_if_changed() {
  local to="$1" content="$2"
  if [ -f "$to" ] && [ "$(cat "$to")" = "$content" ]; then ok "${to#"$destdir"} is current"; return 0; fi
  unit_changed=1
  change "write ${to#"$destdir"}"
  if [ "$dry_run" = 0 ]; then
    install -d -m 755 "$(dirname "$to")"
    printf '%s\n' "$content" >"$to.tmp"
    chmod 644 "$to.tmp"
    mv "$to.tmp" "$to"
  fi
}
write_if_changed "$unit_dir/$unit_name" "$(cat "$src/systemd/$unit_name")"
write_if_changed "$unit_dir/$egress_unit" "$(cat "$src/systemd/$egress_unit")"
# What only this host knows: the user, its uid (its runtime folder and Podman socket) and PREFIX.
if [ -z "$uid" ]; then
  # shellcheck disable=SC2016 # shown as is: the user does not exist yet (dry run)
  dropin_uid='$(id -u '"$user"')'
else
  dropin_uid="$uid"
fi
dropin="# Written by scripts/install-systemd.sh at every run; change WA_USER or PREFIX and run it again.
[Unit]
Wants=user@$dropin_uid.service
After=user@$dropin_uid.service

[Service]
User=$user
Group=$user
WorkingDirectory=$prefix
Environment=XDG_RUNTIME_DIR=/run/user/$dropin_uid"
write_if_changed "$unit_dir/$unit_name.d/10-install.conf" "$dropin"
write_if_changed "$unit_dir/$egress_unit.d/10-install.conf" "$dropin"

# --- systemd ----------------------------------------------------------------------------------
if [ -n "$destdir" ]; then
  skip "systemctl daemon-reload and enable --now (DESTDIR)"
elif [ "$systemd_running" = 0 ]; then
  say "systemd is not PID 1 here: not run, do it where systemd runs:"
  say "  systemctl daemon-reload && systemctl enable --now $egress_unit $unit_name"
else
  if [ "$unit_changed" = 1 ]; then
    change "systemctl daemon-reload"
    run systemctl daemon-reload
  fi
  # The gateway first (the API's sessions go out through it); an upgrade of the app restarts the
  # API only: restarting the gateway would cut every session's connection (do it when its code changed).
  if systemctl is-enabled --quiet "$egress_unit" && systemctl is-active --quiet "$egress_unit"; then
    ok "$egress_unit is enabled and running"
  else
    change "systemctl enable --now $egress_unit"
    run systemctl enable --now "$egress_unit"
  fi
  if systemctl is-enabled --quiet "$unit_name" && systemctl is-active --quiet "$unit_name"; then
    if [ "$app_changed" = 1 ] || [ "$unit_changed" = 1 ]; then
      change "systemctl restart $unit_name (new version)"
      run systemctl restart "$unit_name"
    else
      ok "$unit_name is enabled and running"
    fi
  else
    change "systemctl enable --now $unit_name"
    run systemctl enable --now "$unit_name"
  fi
fi

if [ "$changed" = 0 ]; then
  say "nothing to change"
elif [ "$dry_run" = 1 ]; then
  say "dry run: nothing was changed"
fi
