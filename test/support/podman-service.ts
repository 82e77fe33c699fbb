// A second `podman system service` of the same rootless user, on a socket of its own: the same
// engine and containers as the suite's service, but one a test may stop and start again to see
// what the API does while Podman's API is down. Containers keep running meanwhile (conmon).
import type { Subprocess } from "bun";
import { mkdtempSync, chmodSync, chownSync, statSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PodmanClient } from "../../src/runtime/podman/client";
import { ping } from "../../src/runtime/podman/system";
import { requireEnv, waitFor } from "./env";

export interface PodmanService {
  socket: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startPodmanService(): Promise<PodmanService> {
  const main = requireEnv("PODMAN_SOCKET");
  const user = process.env.PODMAN_USER || "wasandbox";
  const runtimeDir = dirname(dirname(main)); // /run/user/<uid>
  const { uid, gid } = statSync(runtimeDir);
  const dir = mkdtempSync(join(tmpdir(), "podman-svc-"));
  chownSync(dir, uid, gid);
  chmodSync(dir, 0o755);
  const socket = join(dir, "podman.sock");
  const home = `/home/${user}`;
  let proc: Subprocess | null = null;
  const client = new PodmanClient(socket);

  const start = async () => {
    proc = Bun.spawn(
      ["runuser", "-u", user, "--", "env", `HOME=${home}`, `XDG_RUNTIME_DIR=${runtimeDir}`, `CONTAINERS_CONF=${home}/.config/containers/containers.conf`,
        "podman", "system", "service", "--time=0", `unix://${socket}`],
      // cwd: the user cannot enter a checkout in root's private temp folder (as CI's is).
      { cwd: "/", stdout: "ignore", stderr: Bun.file(join(dir, "service.log")) },
    );
    // Podman takes seconds to come up, more on a busy machine; its log says why when it does not.
    await waitFor(() => ping(client), 60_000, "the second podman service to answer").catch(async (err) => {
      throw new Error(`${err.message}; its log: ${await Bun.file(join(dir, "service.log")).text().catch(() => "")}`);
    });
  };
  const stop = async () => {
    if (!proc) return;
    proc.kill("SIGTERM");
    await proc.exited;
    proc = null;
    rmSync(socket, { force: true });
  };
  await start();
  return {
    socket,
    start,
    stop,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
