// Ping and version: is the engine there, and which one.
import type { PodmanClient } from "./client";
import { PodmanUnavailableError } from "./errors";

export interface VersionInfo {
  Version: string;
  ApiVersion: string;
  Os: string;
  Arch: string;
}

/** The fields of libpod's `GET /info` we read. */
export interface HostInfo {
  host: {
    cgroupVersion: string;
    cgroupControllers: string[] | null;
    security: { rootless: boolean };
  };
  store: { graphDriverName: string };
}

export async function info(client: PodmanClient): Promise<HostInfo> {
  return client.json<HostInfo>("GET", "/info");
}

/**
 * Which of the limits we set (memory, pids, CPU shares) the engine cannot enforce: rootless
 * Podman on cgroup v1 drops them all, and on cgroup v2 it has only the controllers delegated to
 * the user. Rootful Podman enforces them on both.
 */
export function unenforcedLimits(host: HostInfo["host"]): string[] {
  const ours = ["memory", "pids", "cpu"];
  if (!host.security.rootless) return [];
  if (host.cgroupVersion !== "v2") return ours;
  const delegated = host.cgroupControllers ?? [];
  return ours.filter((c) => !delegated.includes(c));
}

/**
 * vfs gives every container its own full copy of the image: no two sandboxes share the
 * executable's pages (tens of MiB each) and every create copies the image first.
 */
export function storageWarning(store: HostInfo["store"]): string | null {
  if (store.graphDriverName !== "vfs") return null;
  return (
    "Podman stores images with vfs: every sandbox holds its own copy of the image in memory and every create copies it; " +
    "switch the store to overlay with `sudo bash scripts/podman-storage.sh <user>` (keeps session volumes)"
  );
}

export async function ping(client: PodmanClient): Promise<boolean> {
  try {
    return (await client.fetch("GET", "/_ping")).ok;
  } catch (err) {
    if (err instanceof PodmanUnavailableError) return false;
    throw err;
  }
}

export async function version(client: PodmanClient): Promise<VersionInfo> {
  return client.json<VersionInfo>("GET", "/version");
}

/** How to get a socket answering, for the message the API logs when it does not. */
export function enableHint(socketPath: string): string {
  return (
    `Podman's API socket ${socketPath} does not answer. Enable it for this user with ` +
    "`systemctl --user enable --now podman.socket` (and `loginctl enable-linger $USER` for a service), " +
    `or run \`podman system service --time=0 unix://${socketPath}\`; set PODMAN_SOCKET if it lives elsewhere.`
  );
}
