// Several nodes on one PostgreSQL: two API processes, each with its own port, DATA_DIR, NODE_ID
// and rootless Podman user (so its own containers and volumes), the real sandbox image, the
// emulator. Sessions spread by capacity; any node answers any call; a session moves without a
// new QR (by request, by a drain, and when its node dies); a node back from the dead does not
// touch what it lost; the emulator never sees one device connected twice at once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { RunningEmulator } from "../emulator";
import { startTestApi, type TestApi } from "../support/api";
import { createTestDatabase } from "../support/databases";
import { emulatorControl, startEmulatorForContainers } from "../support/emulator";
import { requireEnv, waitFor } from "../support/env";
import { openSse, type SseStream } from "../support/sse";
import { WebhookReceiver } from "../support/webhook-receiver";

const PHONES = ["4915112350001", "4915112350002", "4915112350003"];
const CONTACT = "4915112350099";
const DEAD_SECONDS = 6;

describe("several nodes sharing PostgreSQL", () => {
  let emu: RunningEmulator;
  let control: ReturnType<typeof emulatorControl>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let a: TestApi;
  let b: TestApi;
  let events: SseStream;
  const receiver = new WebhookReceiver();
  const sessions: { id: string; key: string; phone: string }[] = [];

  const shared = {
    NODE_SECRET: "node-secret-of-the-test-cluster-0123456789",
    AUTH_STATE_KEY: "auth-state-key-of-the-test-cluster-0123456789",
    WEBHOOK_SECRET: "webhook-key-of-the-test-cluster-0123456789",
    NODE_DEAD_SECONDS: String(DEAD_SECONDS),
    NODE_CAPACITY: "3",
    SANDBOX_REQUEST_TIMEOUT_MS: "5000",
    CHANNEL_GRACE_SECONDS: "5",
  };
  const status = async (t: TestApi, i: number) => (await t.call("GET", `/sessions/${sessions[i]!.id}/status`)).body.session;
  const readyOn = (i: number, node: string, ms = 60_000) =>
    waitFor(async () => {
      const s = await status(b, i).catch(() => null);
      return s?.state === "ready" && s.node === node ? s : undefined;
    }, ms, `session ${i} ready on ${node}`);
  const stateEvents = async (t: TestApi, i: number) => (await t.call("GET", `/sessions/${sessions[i]!.id}/events`)).body.events as { to: string; reason: string | null }[];
  const replaced = async () => (await control("GET", "/control/stats")).body.sockets.replaced as number;

  beforeAll(async () => {
    receiver.start();
    emu = await startEmulatorForContainers();
    control = emulatorControl(emu);
    await control("POST", "/control/numbers", { add: [CONTACT] });
    db = await createTestDatabase();
    const env = { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, ...shared };
    a = await startTestApi("postgres", { ...env, NODE_ID: "node-a" }, { process: true, databaseUrl: db.url });
    b = await startTestApi(
      "postgres",
      { ...env, NODE_ID: "node-b", PODMAN_SOCKET: requireEnv("PODMAN_SOCKET_2") },
      { process: true, databaseUrl: db.url, adminKey: a.adminKey },
    );
    // Node A learns of B at its next heartbeat (one second with these settings).
    await waitFor(async () => ((await a.call("GET", "/nodes")).body.nodes?.length === 2 ? true : undefined), 10_000, "both nodes listed");
    events = await openSse(`${b.url}/events`, b.adminKey);
  });

  afterAll(async () => {
    events?.close();
    // Whichever node owns them, the sessions go through either node; then both stop.
    await a?.close().catch(() => {});
    await b?.close().catch(() => {});
    await db?.drop();
    await emu?.stop();
    receiver.stop();
  });

  test("GET /nodes lists both, live with their capacity; a session key may not read it", async () => {
    const res = await b.call("GET", "/nodes");
    expect(res.status).toBe(200);
    expect(res.body.nodes.map((n: any) => [n.id, n.state, n.capacity, n.url])).toEqual([
      ["node-a", "live", 3, `http://127.0.0.1:${a.env.PORT}`],
      ["node-b", "live", 3, `http://127.0.0.1:${b.env.PORT}`],
    ]);
    expect(Date.parse(res.body.nodes[0].lastSeen)).toBeGreaterThan(Date.now() - 30_000);
    expect((await b.call("GET", "/nodes", { key: null })).status).toBe(401);
  });

  test("new sessions go to the node with the most free places, and link there", async () => {
    for (const phone of PHONES) {
      const created = await a.call("POST", "/sessions/create", { body: { name: `n-${phone}`, webhookUrl: receiver.url } });
      expect(created.status).toBe(201);
      sessions.push({ id: created.body.session.id, key: created.body.apiKey, phone });
    }
    // A (tie: the node asked), then B (more free), then A again (a tie once more).
    expect(await Promise.all([0, 1, 2].map(async (i) => (await status(a, i)).node))).toEqual(["node-a", "node-b", "node-a"]);
    for (const [i, s] of sessions.entries()) {
      await waitFor(async () => ((await status(b, i)).state === "qr_ready" ? true : undefined), 30_000, `session ${i} qr_ready`);
      const qr = (await b.call("GET", `/sessions/${s.id}/qr`, { key: s.key })).body.qr;
      expect((await control("POST", "/control/scan", { qr, phoneNumber: s.phone })).status).toBe(200);
    }
    await Promise.all([readyOn(0, "node-a"), readyOn(1, "node-b"), readyOn(2, "node-a")]);
    const nodes = (await a.call("GET", "/nodes")).body.nodes;
    expect(nodes.map((n: any) => n.sessions)).toEqual([2, 1]);
    // Each node runs its own sandboxes: A's Podman holds sessions 0 and 2, B's session 1.
    expect((await a.runtime.list()).map((x) => x.sessionId).sort()).toEqual([sessions[0]!.id, sessions[2]!.id].sort());
    expect((await b.runtime.list()).map((x) => x.sessionId)).toEqual([sessions[1]!.id]);
  });

  test("a message sent through node B for a session on node A goes out, once", async () => {
    const s = sessions[0]!;
    const res = await b.call("POST", `/sessions/${s.id}/messages`, { key: s.key, body: { to: CONTACT, text: "via node B" } });
    expect(res.status).toBe(201);
    expect(["sent", "delivered"]).toContain(res.body.message.status);
    const received = async () => (await control("GET", `/control/phones/${CONTACT}/received`)).body.messages as { id: string; from: string }[];
    await waitFor(async () => ((await received()).some((m) => m.id === res.body.message.id) ? true : undefined), 10_000, "the contact to receive it");
    expect((await received()).filter((m) => m.id === res.body.message.id)).toHaveLength(1);
    // A check-number (a GET that asks the sandbox) through B works too.
    expect((await b.call("GET", `/sessions/${s.id}/check-number/${CONTACT}`, { key: s.key })).body).toMatchObject({ exists: true });
  });

  test("moved by request: node B's stream hears node A's change; ready on B with no new QR", async () => {
    const s = sessions[0]!;
    const res = await b.call("POST", `/sessions/${s.id}/move`, { body: { node: "node-b" } });
    expect(res.status).toBe(200);
    expect(res.body.session).toMatchObject({ node: "node-b", state: "disconnected" });
    expect(res.body.session.reason).toContain("moving from node node-a to node node-b");
    // Recorded by A (its sandbox stopped there), heard on B's stream.
    await events.next((e) => e.event === "session.state" && e.data.sessionId === s.id && e.data.data.state === "disconnected", 10_000, "B's stream to hear A's change");
    await readyOn(0, "node-b");
    expect((await stateEvents(b, 0)).filter((e) => e.to === "qr_ready")).toHaveLength(1);
    expect((await b.runtime.list()).map((x) => x.sessionId)).toContain(s.id);
    expect((await a.runtime.list()).map((x) => x.sessionId)).not.toContain(s.id);
    expect((await b.call("POST", `/sessions/${s.id}/move`, { body: { node: "node-x" } })).status).toBe(404);
    expect((await b.call("POST", `/sessions/${s.id}/move`, { key: s.key, body: { node: "node-a" } })).status).toBe(403);
  });

  test("node A killed: its session is ready on B in time, with no new QR; a message sent meanwhile goes once", async () => {
    const s = sessions[2]!;
    const killedAt = Date.now();
    await a.stopApi("SIGKILL");
    for (const box of await a.runtime.list()) await a.runtime.stop(box.sessionId);
    // Dead after NODE_DEAD_SECONDS; B adopts it and shows the move.
    await waitFor(async () => {
      const st = await status(b, 2);
      return st.node === "node-b" && st.state === "disconnected" && /moving from node node-a/.test(st.reason ?? "") ? true : undefined;
    }, (DEAD_SECONDS + 30) * 1000, "the session to move to B");
    const sent = await b.call("POST", `/sessions/${s.id}/messages`, { key: s.key, body: { to: CONTACT, text: "during the move" } });
    expect(sent.status).toBe(201);
    await readyOn(2, "node-b", (DEAD_SECONDS + 60) * 1000 - (Date.now() - killedAt));
    expect((await stateEvents(b, 2)).filter((e) => e.to === "qr_ready")).toHaveLength(1);
    const received = async () => ((await control("GET", `/control/phones/${CONTACT}/received`)).body.messages as { id: string }[]).filter((m) => m.id === sent.body.message.id);
    await waitFor(async () => ((await received()).length > 0 ? true : undefined), 20_000, "the message sent during the move");
    await Bun.sleep(1000);
    expect(await received()).toHaveLength(1);
    expect((await b.call("GET", "/nodes")).body.nodes.find((n: any) => n.id === "node-a").state).toBe("dead");
  });

  test("node A back: the session it lost stays on B (its old container removed), and A is live again", async () => {
    const s = sessions[2]!;
    expect((await a.runtime.list()).map((x) => x.sessionId)).toContain(s.id);
    await a.restartApi();
    await waitFor(async () => ((await a.runtime.list()).some((x) => x.sessionId === s.id) ? undefined : true), 15_000, "A to remove the lost session's container");
    await Bun.sleep(2000);
    expect(await status(a, 2)).toMatchObject({ node: "node-b", state: "ready" });
    expect((await a.call("GET", "/nodes")).body.nodes.find((n: any) => n.id === "node-a").state).toBe("live");
  });

  test("node B drained: its sessions move to A and are ready there; B stays draining", async () => {
    const res = await a.call("POST", "/nodes/node-b/drain");
    expect(res.status).toBe(200);
    expect(res.body.node).toMatchObject({ id: "node-b", state: "draining" });
    await Promise.all([readyOn(0, "node-a", 90_000), readyOn(1, "node-a", 90_000), readyOn(2, "node-a", 90_000)]);
    const nodes = (await a.call("GET", "/nodes")).body.nodes;
    expect(nodes.map((n: any) => [n.id, n.state, n.sessions])).toEqual([
      ["node-a", "live", 3],
      ["node-b", "draining", 0],
    ]);
    expect(await b.runtime.list()).toEqual([]);
    // Full now: A holds 3 of 3 and B takes none.
    expect((await a.call("POST", "/sessions/create", { body: { name: "one-too-many" } })).status).toBe(429);
    expect((await a.call("POST", "/nodes/node-z/drain")).status).toBe(404);
  });

  test("the emulator never saw a device connected twice; each webhook event was delivered once", async () => {
    expect(await replaced()).toBe(0);
    const ids = receiver.received.map((r) => r.id);
    expect(ids.length).toBeGreaterThan(10);
    const dup = ids.filter((id, i) => ids.indexOf(id) !== i);
    for (const d of dup) console.log("DUP", JSON.stringify(receiver.received.filter((r) => r.id === d).map((r) => [r.at, r.json.event, r.json.data?.state])));
    expect(new Set(ids).size).toBe(ids.length);
  });
});
