// scripts/podman-storage.sh moves a rootless user's Podman store from vfs to overlay, keeping the
// sessions' volumes (contents and labels), and says "ok" the second time; the API warns at start
// while the store is vfs and not once it is overlay. A user of its own: the suite's stays as is.
import { afterAll, expect, test } from "bun:test";
import { $, type Subprocess } from "bun";
import { mkdirSync, chownSync, chmodSync, rmSync } from "node:fs";
import { join } from "node:path";
import { PodmanClient } from "../../src/runtime/podman/client";
import { ping } from "../../src/runtime/podman/system";
import { startTestApi } from "../support/api";
import { waitFor } from "../support/env";

const USER = "wastoretest";
const script = join(import.meta.dir, "../../scripts/podman-storage.sh");
let service: Subprocess | null = null;

async function userIds(): Promise<{ uid: number; gid: number; runtimeDir: string }> {
  if ((await $`id ${USER}`.nothrow().quiet()).exitCode !== 0) await $`useradd -m -s /usr/sbin/nologin ${USER}`.quiet();
  const uid = Number((await $`id -u ${USER}`.text()).trim());
  const gid = Number((await $`id -g ${USER}`.text()).trim());
  const runtimeDir = `/run/user/${uid}`;
  mkdirSync(runtimeDir, { recursive: true });
  chownSync(runtimeDir, uid, gid);
  chmodSync(runtimeDir, 0o700);
  return { uid, gid, runtimeDir };
}
const asUser = (runtimeDir: string, args: string[]) =>
  $`runuser -u ${USER} -- env HOME=/home/${USER} XDG_RUNTIME_DIR=${runtimeDir} ${args}`.cwd("/").quiet();

async function startService(runtimeDir: string): Promise<string> {
  const socket = join(runtimeDir, "storage-test.sock");
  rmSync(socket, { force: true });
  service = Bun.spawn(["runuser", "-u", USER, "--", "env", `HOME=/home/${USER}`, `XDG_RUNTIME_DIR=${runtimeDir}`, "podman", "system", "service", "--time=0", `unix://${socket}`], {
    cwd: "/",
    stdout: "ignore",
    stderr: "ignore",
  });
  await waitFor(() => ping(new PodmanClient(socket)), 30_000, "the test user's podman service");
  return socket;
}
async function stopService() {
  service?.kill("SIGTERM");
  await service?.exited;
  service = null;
}
afterAll(stopService);

/** The API's start-up log lines that warn about vfs. */
async function vfsWarnings(socket: string): Promise<any[]> {
  const t = await startTestApi("pglite", { PODMAN_SOCKET: socket, LOG_LEVEL: "warn" }, { process: true, captureStdout: true });
  try {
    // The runtime is checked once the API listens; its warnings come right after.
    await waitFor(() => t.stdout().includes("API listening") || t.stdout().includes("container runtime"), 10_000, "start-up logs").catch(() => {});
    await Bun.sleep(300);
    return t.stdout().trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.storageDriver !== undefined);
  } finally {
    await t.close();
  }
}

test("a vfs store moves to overlay with the volumes kept; the API warns only about vfs", async () => {
  const { runtimeDir } = await userIds();
  // Start from a vfs store with a session's volume in it, as an install made before this change.
  await asUser(runtimeDir, ["podman", "system", "reset", "--force"]).nothrow();
  rmSync(`/home/${USER}/.config/containers/storage.conf`, { force: true });
  expect((await $`bash ${script} ${USER}`.env({ ...process.env, PODMAN_STORAGE_DRIVER: "vfs" }).text()).trim()).toBe("PODMAN_STORAGE_DRIVER=vfs");
  await asUser(runtimeDir, ["podman", "volume", "create", "--label", "wa.session=s1", "--label", "wa.install=test", "wa-session-s1"]);
  const payload = join(runtimeDir, "payload");
  mkdirSync(payload, { recursive: true });
  await Bun.write(join(payload, "creds.json"), '{"me":"49151"}');
  await $`tar -C ${payload} -cf ${runtimeDir}/payload.tar creds.json && chmod 644 ${runtimeDir}/payload.tar`.quiet();
  await asUser(runtimeDir, ["podman", "volume", "import", "wa-session-s1", `${runtimeDir}/payload.tar`]);

  const before = await vfsWarnings(await startService(runtimeDir));
  expect(before).toHaveLength(1);
  expect(before[0]).toMatchObject({ level: "warn", storageDriver: "vfs" });
  expect(before[0].msg).toContain("podman-storage.sh");
  await stopService();

  const moved = await $`bash ${script} ${USER}`.nothrow().quiet();
  expect(moved.exitCode).toBe(0);
  expect(moved.stdout.toString().trim()).toBe("PODMAN_STORAGE_DRIVER=overlay");
  expect(moved.stderr.toString()).toContain("changed:");
  expect((await asUser(runtimeDir, ["podman", "info", "--format", "{{.Store.GraphDriverName}}"]).text()).trim()).toBe("overlay");
  // The volume is there again, with its labels and its contents.
  const labels = JSON.parse(await asUser(runtimeDir, ["podman", "volume", "inspect", "--format", "{{json .Labels}}", "wa-session-s1"]).text());
  expect(labels).toEqual({ "wa.session": "s1", "wa.install": "test" });
  await asUser(runtimeDir, ["podman", "volume", "export", "wa-session-s1", "--output", `${runtimeDir}/out.tar`]);
  expect((await $`tar -xOf ${runtimeDir}/out.tar creds.json`.text()).trim()).toBe('{"me":"49151"}');

  // Idempotent: nothing to do the second time.
  const again = await $`bash ${script} ${USER}`.quiet();
  expect(again.stderr.toString()).toContain("ok:");

  expect(await vfsWarnings(await startService(runtimeDir))).toEqual([]);
  await stopService();
  await asUser(runtimeDir, ["podman", "volume", "rm", "--force", "wa-session-s1"]);
}, 120_000);

// A CI machine (or a host whose processes were killed without a reboot, so /run/user stays) can
// keep Podman's record of running containers whose conmon and pause process are gone: every
// podman command then fails until `podman system migrate`. The script mends that, keeps the
// volumes, and never takes the failure for "no store" (which would reset it).
test("Podman state that outlived its processes is mended with migrate; volumes kept", async () => {
  const { runtimeDir } = await userIds();
  await stopService();
  expect((await $`bash ${script} ${USER}`.quiet()).stdout.toString().trim()).toBe("PODMAN_STORAGE_DRIVER=overlay");
  // A tiny image (Debian's static catatonit) and a container that runs from it.
  const dir = join(runtimeDir, "stale-image");
  mkdirSync(dir, { recursive: true });
  await $`cp /usr/bin/catatonit ${dir}/ && tar -C ${dir} -cf ${runtimeDir}/stale.tar catatonit && chmod 644 ${runtimeDir}/stale.tar`.quiet();
  await asUser(runtimeDir, ["podman", "import", `${runtimeDir}/stale.tar`, "localhost/stale-test:latest"]);
  await asUser(runtimeDir, ["podman", "volume", "create", "--label", "wa.session=s2", "wa-session-s2"]);
  await asUser(runtimeDir, ["podman", "run", "-d", "--name", "stale-test", "-v", "wa-session-s2:/data", "localhost/stale-test", "/catatonit", "-P"]);
  await $`pkill -9 -u ${USER}`.nothrow().quiet();
  await Bun.sleep(300);
  const broken = await asUser(runtimeDir, ["podman", "info"]).nothrow();
  expect(broken.exitCode).not.toBe(0);
  expect(broken.stderr.toString()).toContain("podman system migrate");

  const mended = await $`bash ${script} ${USER}`.nothrow().quiet();
  expect(mended.exitCode).toBe(0);
  expect(mended.stdout.toString().trim()).toBe("PODMAN_STORAGE_DRIVER=overlay");
  expect(mended.stderr.toString()).toContain("podman system migrate");
  expect(mended.stderr.toString()).toContain("ok:");
  const labels = JSON.parse(await asUser(runtimeDir, ["podman", "volume", "inspect", "--format", "{{json .Labels}}", "wa-session-s2"]).text());
  expect(labels).toEqual({ "wa.session": "s2" });
  // The container is still known, no longer running, and can be removed like any other.
  await asUser(runtimeDir, ["podman", "rm", "--force", "stale-test"]);
  await asUser(runtimeDir, ["podman", "volume", "rm", "--force", "wa-session-s2"]);
  await asUser(runtimeDir, ["podman", "rmi", "localhost/stale-test"]);
}, 120_000);
