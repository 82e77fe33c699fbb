// The channel hub on Deno (Deno.serve and Deno.upgradeWebSocket behind src/platform/serve.ts),
// in its own process, reached over a unix socket by the sandbox's real ChannelClient and by
// hostile raw sockets: reports stored and acknowledged, requests answered, and what a hostile
// sandbox sends (an oversized frame, garbage, a malformed answer) refused without taking the
// process down, as test/integration/channel-hostile.test.ts checks on Bun.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_FRAME_BYTES } from "../../src/channel/hub";
import { ChannelTokens } from "../../src/channel/tokens";
import { ChannelClient } from "../../sandbox/channel-client";
import { quiet, rawSandbox, waitFor } from "../support/channel";

const root = join(import.meta.dir, "../..");
const hasDeno = Bun.which("deno") !== null;

describe.skipIf(!hasDeno)("the channel hub on Deno", () => {
  const socket = join(mkdtempSync(join(tmpdir(), "chan-deno-")), "c.sock");
  const secret = randomUUID() + randomUUID();
  const tokens = new ChannelTokens(secret);
  const lines: any[] = [];
  let child: Subprocess<"ignore", "pipe", "inherit">;
  let exitCode: number | null = null;
  const url = (id: string) => `ws+unix://${socket}:/channel/${id}`;
  const session = async () => {
    const id = randomUUID();
    return { id, token: await tokens.sign(id, randomUUID()) };
  };
  const seen = (event: string, sessionId: string) => lines.filter((l) => l.event === event && l.sessionId === sessionId);

  beforeAll(async () => {
    child = Bun.spawn(
      ["deno", "run", "--config", join(root, "deno.json"), `--allow-net=unix:${socket}`, "--allow-read", "--allow-write", "--allow-env", join(root, "test/support/deno-hub.ts"), socket, secret],
      { cwd: root, stdout: "pipe", stderr: "inherit" },
    );
    void child.exited.then((code) => (exitCode = code));
    void (async () => {
      let buffer = "";
      for await (const chunk of child.stdout as unknown as AsyncIterable<Uint8Array>) {
        buffer += new TextDecoder().decode(chunk);
        const parts = buffer.split("\n");
        buffer = parts.pop() ?? "";
        for (const part of parts) if (part.startsWith("{")) lines.push(JSON.parse(part));
      }
    })();
    await waitFor(() => lines.some((l) => l.event === "ready"), 30_000, "the hub on Deno");
  });
  afterAll(async () => {
    child?.kill();
    await child?.exited;
  });

  test("the hub process runs on Deno", () => {
    expect(lines.find((l) => l.event === "ready")).toEqual({ event: "ready", runtime: "deno" });
  });

  test("a sandbox connects with its token, its reports are stored and acked, and it answers requests", async () => {
    const s = await session();
    const client = new ChannelClient({
      url: url(s.id),
      token: s.token,
      log: quiet,
      onRequest: async (req) => (req.type === "check-number" ? { results: req.phones.map((phone) => ({ phone, exists: true, jid: `${phone}@s.whatsapp.net` })) } : {}),
    });
    client.start();
    try {
      await waitFor(() => seen("answer", s.id).length === 1, 10_000, "the answer to the hub's request");
      expect(seen("answer", s.id)[0].result).toEqual({ results: [{ phone: "4915112345678", exists: true, jid: "4915112345678@s.whatsapp.net" }] });
      client.report({ type: "connecting" });
      client.report({ type: "qr", qr: "2@abc" });
      await waitFor(() => seen("stored", s.id).length === 2, 10_000, "two stored reports");
      expect(seen("stored", s.id).map((l) => l.type)).toEqual(["connecting", "qr"]);
      // Acked: nothing is left to resend.
      await waitFor(() => client.pending === 0, 5000, "the acks");
    } finally {
      client.close();
    }
  });

  test("a bad token is refused at the upgrade", async () => {
    const s = await session();
    await expect(rawSandbox(url(s.id), await new ChannelTokens(randomUUID() + randomUUID()).sign(s.id, randomUUID()))).rejects.toThrow("could not connect");
  });

  test("an oversized frame closes that connection with 1009 and is not stored; garbage is refused and the connection stays", async () => {
    const s = await session();
    const evil = await rawSandbox(url(s.id), s.token);
    evil.send("not json at all");
    evil.send({ kind: "report", seq: 1, boot: "b", report: { type: "connecting" } });
    await waitFor(() => seen("stored", s.id).length === 1, 10_000, "the valid report after the garbage");
    await waitFor(() => evil.received.some((f) => f.kind === "ack" && f.seq === 1), 5000, "its ack");
    evil.send({ kind: "report", seq: 2, boot: "b", report: { type: "failed", reason: "x".repeat(MAX_FRAME_BYTES) } });
    await waitFor(() => evil.closed !== null, 10_000, "the close");
    expect(evil.closed!.code).toBe(1009);
    expect(seen("stored", s.id).map((l) => l.type)).toEqual(["connecting"]);
  });

  test("a malformed answer fails the request and the Deno process keeps running", async () => {
    const s = await session();
    const evil = await rawSandbox(url(s.id), s.token);
    const { id } = await evil.nextRequest();
    evil.send({ kind: "response", id, ok: false });
    await waitFor(() => seen("rejected", s.id).length === 1, 10_000, "the rejection");
    expect(seen("rejected", s.id)[0].name).toBe("SandboxProtocolError");
    // Still serving: another sandbox connects and reports.
    const next = await session();
    const again = await rawSandbox(url(next.id), next.token);
    again.send({ kind: "report", seq: 1, boot: "b", report: { type: "connecting" } });
    await waitFor(() => seen("stored", next.id).length === 1, 10_000, "a report after the malformed answer");
    expect(exitCode).toBeNull();
    evil.ws.close();
    again.ws.close();
  });
});
