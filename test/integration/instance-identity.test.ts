// Two installations under one rootless Podman user, each with its own database: with INSTANCE_ID
// unset they get different instance ids derived from their install ids, so the second one's
// reconcile leaves the first one's container and volume alone; with one INSTANCE_ID for both,
// the second refuses to start, naming INSTANCE_ID, and touches nothing.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PodmanClient } from "../../src/runtime/podman/client";
import { containerExists, inspectContainer } from "../../src/runtime/podman/containers";
import { listVolumes, volumeExists } from "../../src/runtime/podman/volumes";
import { containerName, INSTALL_LABEL, INSTANCE_LABEL, volumeName } from "../../src/runtime/podman-runtime";
import { startTestApi, type TestApi } from "../support/api";
import { createTestDatabase } from "../support/databases";
import { requireEnv } from "../support/env";

const client = new PodmanClient(requireEnv("PODMAN_SOCKET"));
const main = join(import.meta.dir, "../../src/main.ts");
const apis: TestApi[] = [];
afterAll(async () => {
  for (const t of apis) await t.close();
});

async function labelsOf(sessionId: string) {
  const box = await inspectContainer(client, containerName(sessionId));
  const [volume] = await listVolumes(client, { labels: [`wa.session-id=${sessionId}`] });
  return { container: box.Config.Labels ?? {}, volume: volume?.Labels ?? {}, running: box.State.Running };
}

test("two default installs get different instance ids; the second's start leaves the first's container and volume alone", async () => {
  const first = await startTestApi("postgres", { INSTANCE_ID: "" }, { process: true });
  apis.push(first);
  const s1 = await first.createSession("first-install");
  const one = await labelsOf(s1.id);
  expect(one.container[INSTANCE_LABEL]).toMatch(/^i-[0-9a-f]{12}$/);
  expect(one.container[INSTALL_LABEL]).toMatch(/^[0-9a-f-]{36}$/);
  expect(one.container[INSTANCE_LABEL]).toBe(`i-${one.container[INSTALL_LABEL]!.replace(/-/g, "").slice(0, 12)}`);
  expect(one.volume).toMatchObject({ [INSTANCE_LABEL]: one.container[INSTANCE_LABEL], [INSTALL_LABEL]: one.container[INSTALL_LABEL] });

  const second = await startTestApi("postgres", { INSTANCE_ID: "" }, { process: true });
  apis.push(second);
  const s2 = await second.createSession("second-install");
  const two = await labelsOf(s2.id);
  expect(two.container[INSTANCE_LABEL]).not.toBe(one.container[INSTANCE_LABEL]);
  expect(two.container[INSTALL_LABEL]).not.toBe(one.container[INSTALL_LABEL]);

  // The second's reconcile ran at its start: the first's session is untouched.
  expect(await containerExists(client, containerName(s1.id))).toBe(true);
  expect(await volumeExists(client, volumeName(s1.id))).toBe(true);
  expect((await labelsOf(s1.id)).running).toBe(true);
  expect((await first.call("GET", "/sessions")).body.sessions.map((s: { id: string }) => s.id)).toEqual([s1.id]);

  // Restarting the first keeps its identity (kept in its database) and its session.
  await first.restartApi();
  expect((await labelsOf(s1.id)).running).toBe(true);
  const status = await first.call("GET", `/sessions/${s1.id}/status`, { key: s1.apiKey });
  expect(status.status).toBe(200);
  expect(status.body.session.state).not.toBe("failed");
});

test("a second install with the same INSTANCE_ID refuses to start, naming INSTANCE_ID, and the first's container and volume survive", async () => {
  const instanceId = `shared-${crypto.randomUUID().slice(0, 8)}`;
  const first = await startTestApi("postgres", { INSTANCE_ID: instanceId }, { process: true });
  apis.push(first);
  const s1 = await first.createSession("claimed");

  const db = await createTestDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), "wa-api-"));
  try {
    const proc = Bun.spawn(["bun", main], {
      env: { ...process.env, ...first.env, DATABASE_URL: db.url, DATA_DIR: dataDir, PORT: "0" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    expect(code).not.toBe(0);
    expect(stderr).toContain(`INSTANCE_ID "${instanceId}"`);
    expect(stderr).toContain("another installation");
  } finally {
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  expect(await containerExists(client, containerName(s1.id))).toBe(true);
  expect(await volumeExists(client, volumeName(s1.id))).toBe(true);
  expect((await labelsOf(s1.id)).running).toBe(true);
  expect((await first.call("GET", `/sessions/${s1.id}/status`, { key: s1.apiKey })).status).toBe(200);
});
