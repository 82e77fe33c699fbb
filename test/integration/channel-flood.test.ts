// A compromised sandbox holds a valid token: it can reconnect as often as it likes and send as
// fast as its link allows. These tests are its two floods, against a real ChannelHub in Bun.serve:
// big reports over connection after connection (the bound must hold per session, whatever the
// sandbox does, and the API's memory stays flat), and a stream of small reports (stored at a
// bounded rate, while another session's reports keep going through).
import { afterAll, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_INTAKE } from "../../src/channel/intake";
import { ChannelTokens } from "../../src/channel/tokens";
import { ChannelClient } from "../../sandbox/channel-client";
import { quiet, rawSandbox, serveHub, waitFor, type RawSandbox } from "../support/channel";

/** A valid contacts report of about 64 KiB, as a frame. */
function bigFrame(seq: number, boot: string): string {
  const contacts = Array.from({ length: 21 }, (_, i) => ({ id: `${seq}${i}@s.whatsapp.net`, name: "n".repeat(1024), notify: "n".repeat(1024), verifiedName: "n".repeat(1024), phone: null }));
  return JSON.stringify({ kind: "report", seq, boot, report: { type: "contacts", contacts } });
}

/** Resident memory of a process in MiB, from /proc. */
function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB$/m);
  return Number(line![1]) / 1024;
}

/** Connects, or answers null when the hub refuses the connection. */
async function tryConnect(url: string, token: string): Promise<RawSandbox | null> {
  return rawSandbox(url, token).catch(() => null);
}

describe("a sandbox that floods the channel", () => {
  test("reconnecting 16 times with 470 reports of 64 KiB each keeps the hub process's memory flat", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chan-flood-"));
    const socket = join(dir, "c.sock");
    const secret = randomUUID() + randomUUID();
    const id = randomUUID();
    // The hub in its own process, as in the API, storing one report a second (a slow database).
    const script = `
      import { ChannelHub } from ${JSON.stringify(join(import.meta.dir, "../../src/channel/hub"))};
      import { ChannelTokens } from ${JSON.stringify(join(import.meta.dir, "../../src/channel/tokens"))};
      import { silentLogger } from ${JSON.stringify(join(import.meta.dir, "../../src/log"))};
      import { serve } from ${JSON.stringify(join(import.meta.dir, "../../src/platform/serve"))};
      const hub = new ChannelHub({ tokens: new ChannelTokens(${JSON.stringify(secret)}), log: silentLogger, sink: { apply: () => Bun.sleep(1000), admits: async () => true } });
      await serve({ listen: { unix: ${JSON.stringify(socket)} }, fetch: hub.handler(() => new Response("no")), websocket: hub.websocket });
      console.log("ready");
      setInterval(() => console.log("waiting " + hub.intake.totalBytes), 100);
    `;
    const child = Bun.spawn(["bun", "-e", script], { stdout: "pipe", stderr: "inherit" });
    let out = "";
    void (async () => {
      for await (const chunk of child.stdout as unknown as AsyncIterable<Uint8Array>) out += new TextDecoder().decode(chunk);
    })();
    try {
      await waitFor(() => out.includes("ready"), 10_000, "the hub process");
      await Bun.sleep(300);
      const before = rssMiB(child.pid);
      const token = await new ChannelTokens(secret).sign(id, randomUUID());
      const url = `ws+unix://${socket}:/channel/${id}`;
      let refused = 0;
      let cutOff = 0;
      let peak = before;
      for (let c = 0; c < 16; c++) {
        const evil = await tryConnect(url, token);
        if (!evil) {
          refused++;
          continue;
        }
        const boot = randomUUID();
        for (let seq = 1; seq <= 470 && !evil.closed; seq++) {
          evil.send(bigFrame(seq, boot));
          if (seq % 50 === 0) await Bun.sleep(1); // lets close frames in
        }
        // The last connection may stay open: it is replaced by the next, or left as it is.
        await waitFor(() => evil.closed !== null, 500).catch(() => {});
        if (evil.closed?.code === 1008) cutOff++;
        peak = Math.max(peak, rssMiB(child.pid));
      }
      await Bun.sleep(500);
      peak = Math.max(peak, rssMiB(child.pid));
      const waiting = Number(out.trim().split("\n").at(-1)!.split(" ")[1]);
      console.log(`hub process RSS: ${before.toFixed(0)} MiB before, ${peak.toFixed(0)} MiB at most during the flood; ${cutOff} connections cut off, ${refused} refused; ${(waiting / 1048576).toFixed(1)} MiB waiting`);
      // Without the per-session bound the hub held every connection's 30 MiB (16 of them: 718 MiB RSS).
      // Past the bound the session is cut off, then refused for the cool-down.
      expect(cutOff).toBeGreaterThanOrEqual(1);
      expect(refused).toBeGreaterThanOrEqual(1);
      expect(waiting).toBeLessThanOrEqual(DEFAULT_INTAKE.sessionBytes);
      expect(peak - before).toBeLessThan(200);
    } finally {
      child.kill();
      await child.exited;
    }
  }, 60_000);

  const stored: { sessionId: string; at: number }[] = [];
  const t = serveHub({ onReport: async (sessionId) => void stored.push({ sessionId, at: performance.now() }) });
  afterAll(() => t.close());

  test("small reports as fast as it can: stored at the session's rate, another session's reports go through at once", async () => {
    const honest = await t.session();
    const client = new ChannelClient({ url: t.url(honest.id), token: honest.token, log: quiet, onRequest: async () => ({}) });
    client.start();
    await waitFor(() => t.hub.isConnected(honest.id));
    const s = await t.session();
    const evil = (await tryConnect(t.url(s.id), s.token))!;
    const start = performance.now();
    const boot = randomUUID();
    // 20,000 reports at about 10,000 a second.
    const flooding = (async () => {
      for (let seq = 1; seq <= 20_000 && !evil.closed; seq++) {
        evil.send(JSON.stringify({ kind: "report", seq, boot, report: { type: "connecting" } }));
        if (seq % 100 === 0) await Bun.sleep(10);
      }
    })();
    // Meanwhile the honest sandbox reports every 50 ms; each must be stored promptly.
    const delays: number[] = [];
    for (let i = 0; i < 30; i++) {
      const count = stored.filter((r) => r.sessionId === honest.id).length;
      const sent = performance.now();
      client.report({ type: "connecting" });
      await waitFor(() => stored.filter((r) => r.sessionId === honest.id).length > count, 5000, "the honest report");
      delays.push(performance.now() - sent);
      await Bun.sleep(50);
    }
    await flooding;
    const elapsed = (performance.now() - start) / 1000;
    const flooded = stored.filter((r) => r.sessionId === s.id).length;
    delays.sort((a, b) => a - b);
    console.log(`flooder: ${flooded} reports stored in ${elapsed.toFixed(1)} s; honest session's report stored within ${delays.at(-1)!.toFixed(0)} ms at most (median ${delays[15]!.toFixed(0)} ms)`);
    // Cut off once more than a session may have waiting, and refused for the cool-down.
    expect(evil.closed?.code).toBe(1008);
    expect(await tryConnect(t.url(s.id), s.token)).toBeNull();
    // Never more than the burst and the rate allow.
    expect(flooded).toBeLessThanOrEqual(DEFAULT_INTAKE.burst + Math.ceil(elapsed * DEFAULT_INTAKE.perSecond) + 1);
    expect(delays.at(-1)!).toBeLessThan(1000);
    client.close();
  }, 60_000);
});
