// Ping and version: is the engine there, and which one.
import type { PodmanClient } from "./client";
import { PodmanUnavailableError } from "./errors";

export interface VersionInfo {
  Version: string;
  ApiVersion: string;
  Os: string;
  Arch: string;
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
