// The channel end to end between its two real ends: the API's ChannelHub in a Bun server
// (TCP and unix socket) and the sandbox's ChannelClient, with real JWTs.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { RunningServer } from "../../src/platform/serve";
import { serve as serveOnBun } from "../../src/platform/serve-bun";
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Report } from "../../src/channel/frames";
import { ChannelHub, type ChannelSocketData } from "../../src/channel/hub";
import { ChannelTokens } from "../../src/channel/tokens";
import { silentLogger } from "../../src/log";
import { waitFor } from "../support/env";
import { ChannelClient } from "../../sandbox/channel-client";
import { SandboxTimeout, SandboxUnavailable } from "../../src/channel/link";

const quiet = { info() {}, warn() {}, error() {} };
const tokens = new ChannelTokens("k".repeat(40));

function serve(channel: ChannelHub, where: { unix: string } | { port: 0; hostname: "127.0.0.1" }): RunningServer {
  return serveOnBun<ChannelSocketData>({
    listen: where,
    fetch: channel.handler(() => new Response("no", { status: 404 })),
    websocket: channel.websocket,
  });
}

describe("channel", () => {
  const stored: { sessionId: string; report: Report }[] = [];
  let failNext = 0;
  /** The launch each session is on now, as the domain would answer it. */
  const launches = new Map<string, string>();
  const launch = (sessionId: string) => {
    const launchId = randomUUID();
    launches.set(sessionId, launchId);
    return launchId;
  };
  const sign = (sessionId: string, ttl?: number) => tokens.sign(sessionId, launches.get(sessionId) ?? launch(sessionId), ttl);
  const channel = new ChannelHub({
    tokens,
    log: silentLogger,
    sink: {
      admits: async (sessionId, launchId) => launches.get(sessionId) === launchId,
      apply: async (sessionId, _launchId, report) => {
        if (failNext > 0) {
          failNext--;
          throw new Error("database down");
        }
        stored.push({ sessionId, report });
      },
    },
  });
  let tcp: RunningServer;
  let unix: RunningServer;
  let socketPath: string;

  beforeAll(() => {
    tcp = serve(channel, { port: 0, hostname: "127.0.0.1" });
    socketPath = join(mkdtempSync(join(tmpdir(), "chan-")), "c.sock");
    unix = serve(channel, { unix: socketPath });
  });
  afterAll(() => {
    channel.close();
    tcp.stop(true);
    unix.stop(true);
  });

  const tcpUrl = (id: string) => `ws://127.0.0.1:${tcp.port}/channel/${id}`;
  const upgradeAttempt = (id: string, auth?: string) =>
    fetch(`http://127.0.0.1:${tcp.port}/channel/${id}`, {
      headers: {
        upgrade: "websocket",
        connection: "upgrade",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        ...(auth ? { authorization: auth } : {}),
      },
    });

  test("a sandbox with its own token connects, reports, and gets requests answered (TCP)", async () => {
    const id = randomUUID();
    const client = new ChannelClient({
      url: tcpUrl(id),
      token: await sign(id),
      log: quiet,
      onRequest: async (req) => (req.type === "check-number" ? { results: req.phones.map((p) => ({ phone: p, exists: true, jid: `${p}@s.whatsapp.net` })) } : {}),
    });
    client.start();
    await waitFor(() => channel.isConnected(id));
    client.report({ type: "qr", qr: "2@abc" });
    client.report({ type: "connecting" });
    await waitFor(() => stored.filter((s) => s.sessionId === id).length === 2);
    expect(stored.filter((s) => s.sessionId === id).map((s) => s.report.type)).toEqual(["qr", "connecting"]);
    await waitFor(() => client.pending === 0);
    const answer = await channel.request(id, { type: "check-number", phones: ["4915112345678"] }, 2000);
    expect(answer.results[0]).toEqual({ phone: "4915112345678", exists: true, jid: "4915112345678@s.whatsapp.net" });
    client.close();
    await waitFor(() => !channel.isConnected(id));
  });

  test("the channel works over a unix socket", async () => {
    const id = randomUUID();
    const client = new ChannelClient({
      url: `ws+unix://${socketPath}:/channel/${id}`,
      token: await sign(id),
      log: quiet,
      onRequest: async () => ({}),
    });
    client.start();
    client.report({ type: "ready", phoneNumber: "4915112345678", pushName: "Ann" });
    await waitFor(() => stored.some((s) => s.sessionId === id && s.report.type === "ready"));
    client.close();
  });

  test("session A's token is refused on session B's channel, and bad tokens are refused", async () => {
    const a = randomUUID();
    const b = randomUUID();
    const statusOf = async (id: string, auth?: string) => (await upgradeAttempt(id, auth)).status;
    expect(await statusOf(b, `Bearer ${await sign(a)}`)).toBe(401);
    expect(await statusOf(b)).toBe(401);
    expect(await statusOf(b, "Bearer nonsense")).toBe(401);
    const other = new ChannelTokens("z".repeat(40));
    expect(await statusOf(b, `Bearer ${await other.sign(b, launch(b))}`)).toBe(401);
    expect(await statusOf(b, `Bearer ${await sign(b, -5)}`)).toBe(401);
    expect(channel.isConnected(b)).toBe(false);
  });

  test("a token of another launch of the same session is refused, the current launch's admitted", async () => {
    const id = randomUUID();
    const old = await sign(id);
    launch(id); // the session was restarted: a new container launch, with its own tokens
    const refused = await upgradeAttempt(id, `Bearer ${old}`);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ success: false, error: expect.any(String), code: "CHANNEL_NOT_ADMITTED" });
    const client = new ChannelClient({ url: tcpUrl(id), token: old, log: quiet, onRequest: async () => ({}) });
    client.start();
    await Bun.sleep(300);
    expect(channel.isConnected(id)).toBe(false);
    client.close();
    const current = new ChannelClient({ url: tcpUrl(id), token: await sign(id), log: quiet, onRequest: async () => ({}) });
    current.start();
    await waitFor(() => channel.isConnected(id));
    current.close();
  });

  test("a session that is not admitted (stopped, deleted) cannot connect even with a valid token", async () => {
    const id = randomUUID();
    const token = await sign(id);
    launches.delete(id);
    const res = await upgradeAttempt(id, `Bearer ${token}`);
    expect(res.status).toBe(403);
    expect((await res.json()).code).toBe("CHANNEL_NOT_ADMITTED");
  });

  test("reports not acknowledged are resent after the channel drops, and applied once", async () => {
    const id = randomUUID();
    const client = new ChannelClient({ url: tcpUrl(id), token: await sign(id), log: quiet, onRequest: async () => ({}) });
    client.start();
    await waitFor(() => channel.isConnected(id));
    client.report({ type: "qr", qr: "q1" });
    await waitFor(() => client.pending === 0);
    failNext = 1; // the API cannot store the next report: the channel drops, the client resends
    client.report({ type: "disconnected", reason: "x" });
    client.report({ type: "connecting" });
    await waitFor(() => client.pending === 0, 8000);
    // Every report stored once, in the order the sandbox sent them.
    expect(stored.filter((s) => s.sessionId === id).map((s) => s.report.type)).toEqual(["qr", "disconnected", "connecting"]);
    channel.disconnect(id); // a plain drop (an API restart) resends nothing already stored
    await waitFor(() => channel.isConnected(id), 8000);
    client.report({ type: "ready", phoneNumber: "1", pushName: null });
    await waitFor(() => client.pending === 0, 8000);
    expect(stored.filter((s) => s.sessionId === id).map((s) => s.report.type)).toEqual(["qr", "disconnected", "connecting", "ready"]);
    client.close();
  });

  test("requests to an absent or silent sandbox fail clearly", async () => {
    const id = randomUUID();
    await expect(channel.request(id, { type: "logout" }, 100)).rejects.toBeInstanceOf(SandboxUnavailable);
    const client = new ChannelClient({ url: tcpUrl(id), token: await sign(id), log: quiet, onRequest: () => new Promise(() => {}) });
    client.start();
    await waitFor(() => channel.isConnected(id));
    await expect(channel.request(id, { type: "logout" }, 200)).rejects.toBeInstanceOf(SandboxTimeout);
    client.close();
  });

  test("a renewed token is sent on connect and kept for the next connect", async () => {
    const id = randomUUID();
    const tokenFile = join(mkdtempSync(join(tmpdir(), "tok-")), "channel-token");
    const first = await sign(id, 60);
    const client = new ChannelClient({ url: tcpUrl(id), token: first, tokenFile, log: quiet, onRequest: async () => ({}) });
    client.start();
    await waitFor(() => Bun.file(tokenFile).size > 0);
    const kept = (await Bun.file(tokenFile).text()).trim();
    expect(kept).not.toBe(first);
    expect(await tokens.verify(kept, id)).toEqual({ sessionId: id, launchId: launches.get(id)! });
    client.close();
  });

  test("renewal stops and the connection closes once the launch is no longer admitted", async () => {
    const launchesHere = new Map<string, string>();
    let admitsThrows = false;
    const renewing = new ChannelHub({
      tokens,
      log: silentLogger,
      renewEveryMs: 100,
      sink: {
        apply: async () => {},
        admits: async (sessionId, launchId) => {
          if (admitsThrows) throw new Error("database down");
          return launchesHere.get(sessionId) === launchId;
        },
      },
    });
    const server = serve(renewing, { port: 0, hostname: "127.0.0.1" });
    try {
      const id = randomUUID();
      const launchId = randomUUID();
      launchesHere.set(id, launchId);
      const tokenFile = join(mkdtempSync(join(tmpdir(), "tok-")), "channel-token");
      const client = new ChannelClient({ url: `ws://127.0.0.1:${server.port}/channel/${id}`, token: await tokens.sign(id, launchId), tokenFile, log: quiet, onRequest: async () => ({}) });
      client.start();
      await waitFor(() => Bun.file(tokenFile).size > 0);
      // Renewed tokens keep the launch.
      expect(await tokens.verify((await Bun.file(tokenFile).text()).trim(), id)).toEqual({ sessionId: id, launchId });
      // An admission check that fails is not a refusal: the connection stays.
      admitsThrows = true;
      await Bun.sleep(300);
      expect(renewing.isConnected(id)).toBe(true);
      admitsThrows = false;
      launchesHere.set(id, randomUUID()); // restarted elsewhere: this launch is over
      await waitFor(() => !renewing.isConnected(id), 2000);
      const kept = (await Bun.file(tokenFile).text()).trim();
      await Bun.sleep(400);
      expect((await Bun.file(tokenFile).text()).trim()).toBe(kept);
      // Its reconnects are refused at the upgrade.
      expect(renewing.isConnected(id)).toBe(false);
      client.close();
    } finally {
      renewing.close();
      server.stop(true);
    }
  });
});
