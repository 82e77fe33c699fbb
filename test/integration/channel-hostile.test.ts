// A sandbox faces the internet and may be taken over: these tests send what a hostile sandbox
// can send, over a real WebSocket with a real token, to a real ChannelHub in Bun.serve, and
// check that the API refuses it, keeps serving every other session, and never crashes.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import type { Server, ServerWebSocket } from "bun";
import type { Report } from "../../src/channel/frames";
import { MAX_FRAME_BYTES } from "../../src/channel/hub";
import { DEFAULT_INTAKE } from "../../src/channel/intake";
import { ChannelError, SandboxProtocolError, SandboxUnavailable } from "../../src/channel/link";
import { ChannelClient } from "../../sandbox/channel-client";
import { quiet, rawSandbox, recordingLogger, serveHub, waitFor } from "../support/channel";

const stored: { sessionId: string; report: Report }[] = [];
const log = recordingLogger();
const t = serveHub({ log, onReport: async (sessionId, _launchId, report) => void stored.push({ sessionId, report }) });
afterAll(() => t.close());

const storedFor = (id: string) => stored.filter((s) => s.sessionId === id).map((s) => s.report);
const refusalsFor = (id: string) => log.records.filter((r) => r.msg === "channel frame refused" && r.fields.sessionId === id);

/** A well-behaved sandbox next to the hostile one: it must keep working throughout. */
async function honestSandbox() {
  const s = await t.session();
  const client = new ChannelClient({
    url: t.url(s.id),
    token: s.token,
    log: quiet,
    onRequest: async (req) => (req.type === "check-number" ? { results: req.phones.map((phone) => ({ phone, exists: false, jid: null })) } : {}),
  });
  client.start();
  await waitFor(() => t.hub.isConnected(s.id));
  return { ...s, client };
}

async function stillServes(honest: Awaited<ReturnType<typeof honestSandbox>>) {
  const before = storedFor(honest.id).length;
  honest.client.report({ type: "connecting" });
  await waitFor(() => storedFor(honest.id).length === before + 1);
  expect(await t.hub.request(honest.id, { type: "check-number", phones: ["4915112345678"] }, 2000)).toEqual({
    results: [{ phone: "4915112345678", exists: false, jid: null }],
  });
}

describe("a hostile sandbox", () => {
  test('an error response without an error ({"ok":false}) fails its request and the API keeps serving', async () => {
    const honest = await honestSandbox();
    const s = await t.session();
    const evil = await rawSandbox(t.url(s.id), s.token);
    const asked = t.hub.request(s.id, { type: "logout" }, 5000);
    const { id } = await evil.nextRequest();
    evil.send({ kind: "response", id, ok: false });
    // Rejected at once with a protocol error, not after the 5 s timeout.
    const started = Date.now();
    await expect(asked).rejects.toBeInstanceOf(SandboxProtocolError);
    expect(Date.now() - started).toBeLessThan(4000);
    await stillServes(honest);
    // The hostile connection itself is still up and still refused nothing else.
    expect(t.hub.isConnected(s.id)).toBe(true);
    expect(refusalsFor(s.id).map((r) => r.fields.reason)).toEqual(["/error: Expected required property"]);
    evil.ws.close();
    honest.client.close();
  });

  test("the crash frame leaves a real API process running (it used to exit)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chan-proc-"));
    const socket = join(dir, "c.sock");
    const secret = randomUUID() + randomUUID();
    const { id, launchId } = { id: randomUUID(), launchId: randomUUID() };
    // The hub in its own process, as in the API: it asks the sandbox to log out once it connects.
    const script = `
      import { ChannelHub } from ${JSON.stringify(join(import.meta.dir, "../../src/channel/hub"))};
      import { ChannelTokens } from ${JSON.stringify(join(import.meta.dir, "../../src/channel/tokens"))};
      import { silentLogger } from ${JSON.stringify(join(import.meta.dir, "../../src/log"))};
      const hub = new ChannelHub({ tokens: new ChannelTokens(${JSON.stringify(secret)}), log: silentLogger, sink: { apply: async () => {}, admits: async () => true } });
      import { serve } from ${JSON.stringify(join(import.meta.dir, "../../src/platform/serve"))};
      await serve({ listen: { unix: ${JSON.stringify(socket)} }, fetch: hub.handler(() => new Response("no")), websocket: hub.websocket });
      console.log("ready");
      while (!hub.isConnected(${JSON.stringify(id)})) await Bun.sleep(10);
      await hub.request(${JSON.stringify(id)}, { type: "logout" }, 5000).catch((e) => console.log("rejected " + e.name));
      await Bun.sleep(200);
      console.log("alive");
    `;
    const child = Bun.spawn(["bun", "-e", script], { stdout: "pipe", stderr: "pipe" });
    let exitCode: number | null = null;
    void child.exited.then((code) => (exitCode = code));
    let out = "";
    void (async () => {
      for await (const chunk of child.stdout as unknown as AsyncIterable<Uint8Array>) out += new TextDecoder().decode(chunk);
    })();
    try {
      await waitFor(() => out.includes("ready"), 10_000, "the hub process");
      const tokens = new (await import("../../src/channel/tokens")).ChannelTokens(secret);
      const evil = await rawSandbox(`ws+unix://${socket}:/channel/${id}`, await tokens.sign(id, launchId));
      const { id: requestId } = await evil.nextRequest();
      evil.send({ kind: "response", id: requestId, ok: false });
      await waitFor(() => out.includes("alive") || exitCode !== null, 10_000, "the hub process to answer or exit");
      expect({ out, exitCode }).toEqual({ out: expect.stringContaining("rejected SandboxProtocolError"), exitCode: null });
      expect(out).toContain("alive");
    } finally {
      child.kill();
      await child.exited;
    }
  });

  test("a check-number result of the wrong shape fails the request with SandboxProtocolError", async () => {
    const s = await t.session();
    const evil = await rawSandbox(t.url(s.id), s.token);
    for (const result of [
      { results: [{ phone: "4915112345678", exists: "yes", jid: null }] },
      { results: "everyone exists" },
      { code: "ABCD1234" },
      null,
    ]) {
      const asked = t.hub.request(s.id, { type: "check-number", phones: ["4915112345678"] }, 5000);
      const { id } = await evil.nextRequest();
      evil.send({ kind: "response", id, ok: true, result });
      const err = await asked.catch((e) => e);
      expect(err).toBeInstanceOf(SandboxProtocolError);
      expect(err.message).toContain("check-number");
    }
    // A well-formed error answer is the sandbox's own error, not a protocol error.
    const asked = t.hub.request(s.id, { type: "pairing-code", phoneNumber: "4915112345678" }, 5000);
    const { id } = await evil.nextRequest();
    evil.send({ kind: "response", id, ok: false, error: { code: "NOT_CONNECTED", message: "not running" } });
    const err = await asked.catch((e) => e);
    expect(err).toBeInstanceOf(ChannelError);
    expect(err.code).toBe("NOT_CONNECTED");
    evil.ws.close();
  });

  test("an oversized frame closes that connection only, before it is stored", async () => {
    const honest = await honestSandbox();
    const s = await t.session();
    const evil = await rawSandbox(t.url(s.id), s.token);
    evil.send({ kind: "report", seq: 1, boot: "b", report: { type: "failed", reason: "x".repeat(MAX_FRAME_BYTES) } });
    await waitFor(() => evil.closed !== null);
    expect(evil.closed!.code).toBe(1009); // message too big
    expect(storedFor(s.id)).toEqual([]);
    await waitFor(() => !t.hub.isConnected(s.id));
    await stillServes(honest);
    honest.client.close();
  });

  test("out-of-place kinds and malformed frames move nothing and are logged briefly with the session", async () => {
    const s = await t.session();
    const evil = await rawSandbox(t.url(s.id), s.token);
    const secret = "do-not-log-me-".repeat(50);
    const frames = [
      { kind: "ack", boot: "b", seq: 1 },
      { kind: "token", token: "a.b.c" },
      { kind: "request", id: "1", request: { type: "logout" } },
      "{not json",
      { kind: "report", seq: 1, boot: "b", report: { type: "qr", qr: secret + "x".repeat(2048) } },
      { kind: "report", seq: 1, boot: "b", report: { type: "chats", chats: [{ id: "a@g.us", name: secret, isGroup: true, unreadCount: -1, timestamp: null }] } },
      { kind: "report", seq: 1, boot: "b", report: { type: "ready", phoneNumber: "1", pushName: null }, admin: true },
      { kind: "response", id: randomUUID(), ok: true, result: {} }, // answers nothing that was asked
    ];
    for (const f of frames) evil.send(f);
    evil.send({ kind: "report", seq: 2, boot: "b", report: { type: "connecting" } });
    await waitFor(() => storedFor(s.id).length === 1);
    expect(storedFor(s.id)).toEqual([{ type: "connecting" }]);
    const refusals = refusalsFor(s.id);
    expect(refusals.length).toBe(frames.length);
    for (const r of refusals) {
      expect(r.level).toBe("warn");
      expect(String(r.fields.reason).length).toBeLessThanOrEqual(200);
      expect(JSON.stringify(r)).not.toContain("do-not-log-me");
    }
    expect(refusals.slice(0, 4).map((r) => r.fields.reason)).toEqual([
      '/kind: unexpected kind "ack"',
      '/kind: unexpected kind "token"',
      '/kind: unexpected kind "request"',
      "not JSON",
    ]);
    // A binary frame is no frame of the protocol either.
    evil.ws.send(new Uint8Array([1, 2, 3]));
    await waitFor(() => refusalsFor(s.id).length === frames.length + 1);
    expect(refusalsFor(s.id).at(-1)!.fields.reason).toBe("not a text frame");
    expect(t.hub.isConnected(s.id)).toBe(true);
    evil.ws.close();
  });

  test("one session's sandbox cannot answer another session's request", async () => {
    const a = await t.session();
    const b = await t.session();
    const victim = await rawSandbox(t.url(a.id), a.token);
    const evil = await rawSandbox(t.url(b.id), b.token);
    const asked = t.hub.request(a.id, { type: "check-number", phones: ["4915112345678"] }, 5000);
    const { id } = await victim.nextRequest();
    evil.send({ kind: "response", id, ok: true, result: { results: [{ phone: "4915112345678", exists: true, jid: "evil@s.whatsapp.net" }] } });
    evil.send({ kind: "response", id, ok: false });
    await Bun.sleep(100);
    victim.send({ kind: "response", id, ok: true, result: { results: [{ phone: "4915112345678", exists: false, jid: null }] } });
    expect(await asked).toEqual({ results: [{ phone: "4915112345678", exists: false, jid: null }] });
    victim.ws.close();
    evil.ws.close();
  });

  test("a request in flight fails at once when its sandbox leaves", async () => {
    const s = await t.session();
    const evil = await rawSandbox(t.url(s.id), s.token);
    const asked = t.hub.request(s.id, { type: "logout" }, 5000);
    await evil.nextRequest();
    evil.ws.close();
    await expect(asked).rejects.toBeInstanceOf(SandboxUnavailable);
  });

  test("a sandbox sending reports faster than they are stored is cut off, not buffered", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = serveHub({ onReport: () => gate });
    try {
      const s = await slow.session();
      const evil = await rawSandbox(slow.url(s.id), s.token);
      // Valid reports of about 3.4 MB each (1,000 contacts with long names), sent without waiting for acks.
      const contacts = Array.from({ length: 1000 }, (_, i) => ({ id: `${i}@s.whatsapp.net`, name: "n".repeat(1024), notify: "n".repeat(1024), verifiedName: "n".repeat(1024), phone: null }));
      const frame = (seq: number) => JSON.stringify({ kind: "report", seq, boot: "b", report: { type: "contacts", contacts } });
      const frames = Math.ceil(DEFAULT_INTAKE.sessionBytes / frame(1).length) + 2;
      for (let seq = 1; seq <= frames && !evil.closed; seq++) evil.send(frame(seq));
      await waitFor(() => evil.closed !== null, 10_000);
      expect(evil.closed!.code).toBe(1008);
      expect(evil.received.filter((f) => f.kind === "ack")).toEqual([]);
    } finally {
      release();
      slow.close();
    }
  });

  test("an admission check that throws answers 503 and admits nothing", async () => {
    const failing = serveHub({ onReport: async () => {}, admits: async () => Promise.reject(new Error("database down")) });
    try {
      const s = await failing.session();
      const connected = await rawSandbox(failing.url(s.id), s.token).then(
        () => true,
        () => false,
      );
      expect(connected).toBe(false);
      expect(failing.hub.isConnected(s.id)).toBe(false);
      const res = await fetch(`http://127.0.0.1:${failing.server.port}/channel/${s.id}`, {
        headers: { upgrade: "websocket", connection: "upgrade", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", authorization: `Bearer ${s.token}` },
      });
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ success: false, error: "Channel unavailable", code: "CHANNEL_UNAVAILABLE" });
    } finally {
      failing.close();
    }
  });
});

describe("the sandbox's end", () => {
  test("it fits what WhatsApp sent to the bounds before sending, and leaves out what cannot fit", async () => {
    const s = await t.session();
    const client = new ChannelClient({ url: t.url(s.id), token: s.token, log: quiet, onRequest: async () => ({}) });
    client.start();
    client.report({
      type: "contacts",
      contacts: [
        { id: "1@s.whatsapp.net", name: "a\u0000b", notify: "n".repeat(5000), verifiedName: null, phone: "1" },
        { id: "bad id@s.whatsapp.net", name: "dropped", notify: null, verifiedName: null, phone: null },
        { id: "2@s.whatsapp.net", name: null, notify: null, verifiedName: null, phone: "+2" },
      ],
    });
    client.report({ type: "chats", chats: [{ id: "3@g.us", name: null, isGroup: true, unreadCount: 5e9, timestamp: -3 }] });
    client.report({ type: "failed", reason: "r".repeat(5000) });
    client.report({ type: "ready", phoneNumber: "not-a-phone", pushName: null }); // cannot be fitted: not sent
    client.report({ type: "connecting" });
    await waitFor(() => storedFor(s.id).length === 4);
    await waitFor(() => client.pending === 0);
    const [contacts, chats, failed, connecting] = storedFor(s.id);
    expect(contacts).toEqual({
      type: "contacts",
      contacts: [{ id: "1@s.whatsapp.net", name: "ab", notify: "n".repeat(1024), verifiedName: null, phone: "1" }],
    });
    expect(chats).toEqual({ type: "chats", chats: [{ id: "3@g.us", name: null, isGroup: true, unreadCount: 1_000_000, timestamp: 0 }] });
    expect(failed).toEqual({ type: "failed", reason: "r".repeat(1024) });
    expect(connecting).toEqual({ type: "connecting" });
    expect(refusalsFor(s.id)).toEqual([]);
    client.close();
  });

  test("a report larger than a frame is split, and every item arrives", async () => {
    const s = await t.session();
    const client = new ChannelClient({ url: t.url(s.id), token: s.token, log: quiet, onRequest: async () => ({}) });
    client.start();
    // 1,000 contacts with three 1,024-character names of 3-byte characters: about 9 MB.
    const contacts = Array.from({ length: 1000 }, (_, i) => ({ id: `${i}@s.whatsapp.net`, name: "€".repeat(1024), notify: "€".repeat(1024), verifiedName: "€".repeat(1024), phone: String(i + 1) }));
    client.report({ type: "contacts", contacts });
    await waitFor(() => client.pending === 0, 20_000);
    const reports = storedFor(s.id) as Extract<Report, { type: "contacts" }>[];
    expect(reports.length).toBeGreaterThan(1);
    expect(reports.flatMap((r) => r.contacts)).toEqual(contacts);
    expect(refusalsFor(s.id)).toEqual([]);
    client.close();
  });

  test("a bad answer from the sandbox's own handler goes back as an error, not as a malformed result", async () => {
    const s = await t.session();
    const client = new ChannelClient({ url: t.url(s.id), token: s.token, log: quiet, onRequest: async () => ({ results: [{ phone: "x", exists: 1 }] }) });
    client.start();
    await waitFor(() => t.hub.isConnected(s.id));
    const err = await t.hub.request(s.id, { type: "check-number", phones: ["4915112345678"] }, 2000).catch((e) => e);
    expect(err).toBeInstanceOf(ChannelError);
    expect(err.code).toBe("INVALID_RESULT");
    client.close();
  });

  test("it refuses malformed frames from the API and still answers a request it cannot read", async () => {
    // A stand-in API that sends garbage (as a bug of ours, or whoever took the socket, might).
    const sockets: ServerWebSocket<unknown>[] = [];
    const inbox: any[] = [];
    const fake: Server<unknown> = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req, server) => (server.upgrade(req, { data: {} }) ? undefined : new Response("no", { status: 400 })),
      websocket: { open: (ws) => void sockets.push(ws), message: (_ws, m) => void inbox.push(JSON.parse(String(m))) },
    });
    try {
      const tokenFile = join(mkdtempSync(join(tmpdir(), "tok-")), "channel-token");
      const handled: unknown[] = [];
      const client = new ChannelClient({
        url: `ws://127.0.0.1:${fake.port}/channel/x`,
        token: "a.b.c",
        tokenFile,
        log: quiet,
        onRequest: async (req) => {
          handled.push(req);
          return {};
        },
      });
      client.start();
      await waitFor(() => sockets.length === 1);
      client.report({ type: "connecting" });
      await waitFor(() => inbox.length === 1);
      const api = sockets[0]!;
      api.send(JSON.stringify({ kind: "token", token: "not a token; rm -rf /" }));
      api.send(JSON.stringify({ kind: "ack", boot: client.boot, seq: "all" }));
      api.send(JSON.stringify({ kind: "report", seq: 1, boot: "b", report: { type: "connecting" } }));
      api.send(JSON.stringify({ kind: "request", id: "r1", request: { type: "check-number", phones: ["; drop table"] } }));
      api.send("{{{");
      await waitFor(() => inbox.some((f) => f.kind === "response"));
      expect(inbox.find((f) => f.kind === "response")).toEqual({ kind: "response", id: "r1", ok: false, error: { code: "INVALID_REQUEST", message: expect.stringContaining("/request/phones/0") } });
      expect(handled).toEqual([]);
      expect(client.pending).toBe(1); // the malformed ack acknowledged nothing
      expect(() => readFileSync(tokenFile)).toThrow(); // the garbage token was not kept
      api.send(JSON.stringify({ kind: "ack", boot: client.boot, seq: 1 }));
      await waitFor(() => client.pending === 0);
      client.close();
    } finally {
      fake.stop(true);
    }
  });
});
