// The emulator as session containers reach it: its WebSocket and its media server (HTTPS, test
// CA) on unix sockets in a folder the rootless Podman user can traverse (wa.sock, media.sock), so
// containers with any network mode bind-mount it and no traffic leaves the host.
import { chmodSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmulator, type EmulatorOptions, type RunningEmulator } from "../emulator";

export async function startEmulatorForContainers(opts: Omit<EmulatorOptions, "socketPath" | "mediaSocketPath" | "port"> = {}): Promise<RunningEmulator> {
  const dir = mkdtempSync(join(tmpdir(), "wa-emu-"));
  chmodSync(dir, 0o755);
  return startEmulator({ logLevel: "warn", ...opts, socketPath: join(dir, "wa.sock"), mediaSocketPath: join(dir, "media.sock") });
}

/** The emulator's control API (scan a QR, add numbers, set a phone's history), answers parsed. */
export function emulatorControl(emu: Pick<RunningEmulator, "controlUrl">) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(emu.controlUrl + path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
}
