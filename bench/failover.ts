// Issue figure: the time from a node's death to all of its sessions `ready` on another node,
// whole stack (two API processes on one PostgreSQL, each with its own rootless Podman user, the
// sandbox image, the emulator). Node A runs N linked sessions; node B (empty) waits; A's API is
// killed (SIGKILL) and its Podman user's containers stopped, as a host that died. Printed: when B
// saw A dead (NODE_DEAD_SECONDS), and when the first and the last session were ready on B, each
// from the kill; and whether the emulator saw a device connected twice (it must not).
// Usage: bun bench/failover.ts [sessions=10] [NODE_DEAD_SECONDS=60]. Needs what scripts/test.sh sets up.
import { startTestApi, type TestApi } from "../test/support/api";
import { createTestDatabase } from "../test/support/databases";
import { emulatorControl, startEmulatorForContainers } from "../test/support/emulator";
import { requireEnv, waitFor } from "../test/support/env";

const count = Number(process.argv[2] ?? 10);
const deadSeconds = Number(process.argv[3] ?? 60);

const emu = await startEmulatorForContainers({ logLevel: "silent" });
const control = emulatorControl(emu);
const db = await createTestDatabase();
const env = {
  WA_WS_URL: emu.wsUrl,
  WA_TRUST_ROOT: emu.trustRoot,
  NODE_SECRET: "node-secret-of-the-bench-cluster-0123456789",
  AUTH_STATE_KEY: "auth-state-key-of-the-bench-cluster-0123456789",
  WEBHOOK_SECRET: "webhook-key-of-the-bench-cluster-0123456789",
  NODE_DEAD_SECONDS: String(deadSeconds),
  NODE_CAPACITY: String(count),
  LOG_LEVEL: "warn",
};
const a = await startTestApi("postgres", { ...env, NODE_ID: "node-a" }, { process: true, databaseUrl: db.url });
let b: TestApi | null = null;
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

try {
  // All on A: B starts after they are linked.
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const created = await a.createSession(`failover-${i}`);
    ids.push(created.id);
  }
  const state = async (t: TestApi, id: string) => (await t.call("GET", `/sessions/${id}/status`)).body.session as { state: string; node: string };
  for (const [i, id] of ids.entries()) {
    await waitFor(async () => ((await state(a, id)).state === "qr_ready" ? true : undefined), 60_000, "qr_ready");
    const qr = (await a.call("GET", `/sessions/${id}/qr`)).body.qr;
    await control("POST", "/control/scan", { qr, phoneNumber: `49151${String(30000000 + i)}` });
  }
  await waitFor(async () => ((await Promise.all(ids.map((id) => state(a, id)))).every((x) => x.state === "ready") ? true : undefined), 180_000, "all ready on A");
  b = await startTestApi("postgres", { ...env, NODE_ID: "node-b", PODMAN_SOCKET: requireEnv("PODMAN_SOCKET_2") }, { process: true, databaseUrl: db.url, adminKey: a.adminKey });
  await waitFor(async () => ((await b!.call("GET", "/nodes")).body.nodes?.length === 2 ? true : undefined), 30_000, "B registered");
  const replacedBefore = (await control("GET", "/control/stats")).body.sockets.replaced as number;

  const killed = performance.now();
  await a.stopApi("SIGKILL");
  await Promise.all((await a.runtime.list()).map((box) => a.runtime.stop(box.sessionId)));
  const stoppedAt = performance.now() - killed;
  let deadAt = 0;
  let firstReady = 0;
  const readyAt = new Map<string, number>();
  await waitFor(async () => {
    if (!deadAt && (await b!.call("GET", "/nodes")).body.nodes.find((n: { id: string }) => n.id === "node-a")?.state === "dead") deadAt = performance.now() - killed;
    for (const [id, x] of (await Promise.all(ids.map(async (id) => [id, await state(b!, id)] as const)))) {
      if (!readyAt.has(id) && x.state === "ready" && x.node === "node-b") readyAt.set(id, performance.now() - killed);
    }
    if (!firstReady && readyAt.size > 0) firstReady = Math.min(...readyAt.values());
    return readyAt.size === ids.length ? true : undefined;
  }, (deadSeconds + 600) * 1000, "all ready on B");
  const last = Math.max(...readyAt.values());
  const replaced = ((await control("GET", "/control/stats")).body.sockets.replaced as number) - replacedBefore;
  const qrs = (await Promise.all(ids.map(async (id) => (await b!.call("GET", `/sessions/${id}/events`)).body.events.filter((e: { to: string }) => e.to === "qr_ready").length))).reduce((x, y) => x + y, 0);
  console.log(`failover of ${count} sessions, NODE_DEAD_SECONDS=${deadSeconds}: containers stopped ${s(stoppedAt)} after the kill`);
  console.log(`  node A seen dead by B: ${s(deadAt)} after the kill (polled once a second)`);
  console.log(`  first session ready on B: ${s(firstReady)}; all ${count} ready: ${s(last)} after the kill, ${s(last - deadAt)} after A was seen dead`);
  console.log(`  new QR codes: ${qrs - count} (each session showed ${count > 0 ? "one" : "none"} at linking); devices seen connected twice by the emulator: ${replaced}`);
} finally {
  await b?.close().catch(() => {});
  await a.close().catch(() => {});
  await db.drop();
  await emu.stop();
}
