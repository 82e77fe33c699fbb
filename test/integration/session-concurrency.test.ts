// Overlapping calls on one session against real rootless Podman: every call gets a clear
// answer, and when they have all answered the session's state and its container agree. Also
// what the API does while Podman's API is down: the state moves only when Podman did the work,
// and a reconcile follows when Podman is back.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { inspectContainer, removeContainer } from "../../src/runtime/podman/containers";
import { PodmanClient } from "../../src/runtime/podman/client";
import { volumeExists } from "../../src/runtime/podman/volumes";
import { containerName, volumeName } from "../../src/runtime/podman-runtime";
import type { RunningEmulator } from "../emulator";
import { startTestApi, type TestApi } from "../support/api";
import { startEmulatorForContainers } from "../support/emulator";
import { requireEnv, waitFor } from "../support/env";
import { startPodmanService, type PodmanService } from "../support/podman-service";

const client = new PodmanClient(requireEnv("PODMAN_SOCKET"));

async function containerRunning(id: string): Promise<boolean | null> {
  try {
    return (await inspectContainer(client, containerName(id))).State.Running;
  } catch {
    return null; // no container
  }
}

/** A state and a container agree when the container runs exactly in the states that want it. */
function agree(state: string, running: boolean | null): boolean {
  if (state === "stopped" || state === "logged_out") return running !== true;
  if (["starting", "qr_ready", "connecting", "ready", "disconnected"].includes(state)) return running === true;
  return true; // failed: the restart policy may or may not have brought it back
}

function clearAnswer(res: { status: number; body: any }) {
  expect(res.status).toBeLessThan(500);
  if (res.status >= 400) expect(res.body.code).toMatch(/^[A-Z_]+$/);
  else expect(res.body.success).toBe(true);
}

describe("overlapping operations on one session", () => {
  let emu: RunningEmulator;
  let t: TestApi;

  beforeAll(async () => {
    emu = await startEmulatorForContainers();
    t = await startTestApi("postgres", { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot });
  });
  afterAll(async () => {
    await t?.close();
    await emu?.stop();
  });

  const state = async (id: string) => (await t.call("GET", `/sessions/${id}/status`)).body.session?.state as string | undefined;

  test("stop and start at once, many times: each call answers clearly and state and container agree", async () => {
    const s = await t.createSession();
    for (let round = 0; round < 4; round++) {
      const answers = await Promise.all([
        t.call("POST", `/sessions/${s.id}/stop`),
        t.call("POST", `/sessions/${s.id}/start`),
        t.call("POST", `/sessions/${s.id}/stop`),
        t.call("POST", `/sessions/${s.id}/start`),
      ]);
      answers.forEach(clearAnswer);
      // Whichever call came last, the state says what the container does.
      const st = (await state(s.id))!;
      expect(agree(st, await containerRunning(s.id))).toBe(true);
    }
    expect((await t.call("POST", `/sessions/${s.id}/stop`)).status).toBe(200);
    expect(await state(s.id)).toBe("stopped");
    expect(await containerRunning(s.id)).not.toBe(true);
  });

  test("stop, start, logout and delete overlapping: every call answers, and the session is gone with its container and volume", async () => {
    const s = await t.createSession();
    await waitFor(async () => (await state(s.id)) === "qr_ready", 30_000, "qr_ready");
    const answers = await Promise.all([
      t.call("POST", `/sessions/${s.id}/stop`),
      t.call("POST", `/sessions/${s.id}/logout`),
      t.call("POST", `/sessions/${s.id}/start`),
      t.call("DELETE", `/sessions/${s.id}`),
      t.call("POST", `/sessions/${s.id}/start`),
      t.call("POST", `/sessions/${s.id}/stop`),
    ]);
    answers.forEach(clearAnswer);
    expect(answers[3]!.status).toBe(200);
    // Whatever reached the session's queue after the delete found no session.
    for (const a of answers) expect([200, 404, 409]).toContain(a.status);
    expect((await t.call("GET", `/sessions/${s.id}/status`)).status).toBe(404);
    expect(await containerRunning(s.id)).toBeNull();
    expect(await volumeExists(client, volumeName(s.id))).toBe(false);
  });

  test("a delete while the session is being created waits for it, and leaves no container behind", async () => {
    const name = `racing-${crypto.randomUUID().slice(0, 8)}`;
    const creating = t.call("POST", "/sessions/create", { body: { name } });
    // Delete as soon as the row is visible, while the container is still being made.
    const id = await waitFor(async () => (await t.call("GET", "/sessions")).body.sessions.find((x: any) => x.name === name)?.id as string | undefined, 10_000, "the row");
    const deleted = await t.call("DELETE", `/sessions/${id}`);
    const created = await creating;
    expect(created.status).toBe(201);
    expect(deleted.status).toBe(200);
    expect((await t.call("GET", `/sessions/${id}/status`)).status).toBe(404);
    await Bun.sleep(500); // a container made after the delete would show by now
    expect(await containerRunning(id)).toBeNull();
    expect(await volumeExists(client, volumeName(id))).toBe(false);
  });
});

describe("while Podman's API is down", () => {
  let emu: RunningEmulator;
  let podman: PodmanService;
  let t: TestApi;

  beforeAll(async () => {
    emu = await startEmulatorForContainers();
    podman = await startPodmanService();
    t = await startTestApi("pglite", { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, PODMAN_SOCKET: podman.socket });
  });
  afterAll(async () => {
    await podman?.start().catch(() => {});
    await t?.close();
    await podman?.close();
    await emu?.stop();
  });

  test("stop answers 503 and moves nothing; once Podman is back, stop stops the container", async () => {
    const s = await t.createSession();
    await waitFor(async () => (await t.call("GET", `/sessions/${s.id}/status`)).body.session.state === "qr_ready", 30_000, "qr_ready");
    await podman.stop();
    for (let i = 0; i < 2; i++) {
      const res = await t.call("POST", `/sessions/${s.id}/stop`);
      expect(res.status).toBe(503);
      expect(res.body.code).toBe("RUNTIME_UNAVAILABLE");
      expect(JSON.stringify(res.body)).not.toContain(podman.socket);
      const st = (await t.call("GET", `/sessions/${s.id}/status`)).body.session.state;
      expect(st).toBe("qr_ready");
      expect(await containerRunning(s.id)).toBe(true);
    }
    await podman.start();
    expect((await t.call("POST", `/sessions/${s.id}/stop`)).status).toBe(200);
    expect((await t.call("GET", `/sessions/${s.id}/status`)).body.session.state).toBe("stopped");
    expect(await containerRunning(s.id)).toBe(false);
  });

  test("a container that died while Podman's API was down fails its session once Podman is back", async () => {
    const s = await t.createSession();
    await waitFor(async () => (await t.call("GET", `/sessions/${s.id}/status`)).body.session.state === "qr_ready", 30_000, "qr_ready");
    await podman.stop();
    // Through the suite's own service: the engine works, only the API's socket is gone.
    await removeContainer(client, containerName(s.id), { force: true });
    expect((await t.call("GET", `/sessions/${s.id}/status`)).body.session.state).toBe("qr_ready");
    await podman.start();
    await waitFor(async () => (await t.call("GET", `/sessions/${s.id}/status`)).body.session.state === "failed", 15_000, "failed after reconcile");
    const events = (await t.call("GET", `/sessions/${s.id}/events`)).body.events;
    // Whichever comes first once Podman is back: the reconcile pass, or the engine's event of
    // the container's death, replayed since the events stream broke.
    expect(events[0].to).toBe("failed");
    expect(events[0].reason).toMatch(/^sandbox container (is not running|exited|was removed)/);
  });
});
