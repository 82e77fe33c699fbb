// Webhooks from the outbox to a real receiver on loopback, checked with the `standardwebhooks`
// library a receiver would use: every event type, a receiver that is down and comes back, the
// API killed mid-delivery, 410 Gone, a slow receiver, the retry window and a retry by hand, the
// SSRF guard at create, PATCH and delivery, and secret rotation.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Webhook } from "standardwebhooks";
import type { RunningEmulator } from "../emulator";
import { startTestApi, testApiRuntime, type TestApi } from "../support/api";
import { emulatorControl, startEmulatorForContainers } from "../support/emulator";
import { waitFor } from "../support/env";
import { WebhookReceiver, type Received } from "../support/webhook-receiver";

const PHONE = "4915112350001";
const OTHER = "4915112350002";

function verify(secret: string, r: Received): unknown {
  return new Webhook(secret).verify(r.body, r.headers);
}

const states = (rs: Received[]) => rs.filter((r) => r.json.event === "session.state").map((r) => r.json.data.state);

/** The session's state changes as the API stored them, oldest first. */
async function storedStates(t: TestApi, id: string): Promise<string[]> {
  return (await t.call("GET", `/sessions/${id}/events`)).body.events.map((e: any) => e.to).reverse();
}

/** Waits until the receiver holds every state change the API stored (the sandbox may add its own), and answers both. */
async function allStates(t: TestApi, receiver: WebhookReceiver, id: string, ms: number): Promise<{ got: string[]; stored: string[] }> {
  return waitFor(async () => {
    const stored = await storedStates(t, id);
    const got = states(receiver.of(id));
    return got.length === stored.length ? { got, stored } : undefined;
  }, ms, "every state change at the receiver");
}

describe("every event, signed the Standard Webhooks way", () => {
  let emu: RunningEmulator;
  let t: TestApi;
  const receiver = new WebhookReceiver();

  beforeAll(async () => {
    receiver.start();
    emu = await startEmulatorForContainers();
    const control = emulatorControl(emu);
    await control("PUT", `/control/phones/${PHONE}/history`, {
      contacts: [{ id: `${OTHER}@s.whatsapp.net`, name: "John Doe", notify: "John" }],
      chats: [{ id: `${OTHER}@s.whatsapp.net`, name: "John Doe", isGroup: false, unreadCount: 2, timestamp: 1706443200 }],
    });
    t = await startTestApi("postgres", { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot });
  });
  afterAll(async () => {
    await t?.close();
    await emu?.stop();
    receiver.stop();
  });

  test("state, QR, contacts and chats arrive verified, in order, and the verifier refuses tampering", async () => {
    const s = await t.createSession("hooked", { webhookUrl: receiver.url });
    const secret = s.body.webhookSecret as string;
    const qrEvent = await waitFor(() => receiver.of(s.id).find((r) => r.json.event === "session.qr"), 30_000, "session.qr");
    const scan = await emulatorControl(emu)("POST", "/control/scan", { qr: qrEvent.json.data.qr, phoneNumber: PHONE });
    expect(scan.status).toBe(200);
    await waitFor(() => ["session.contacts", "session.chats"].every((e) => receiver.of(s.id).some((r) => r.json.event === e)), 30_000, "sync events");
    await waitFor(() => states(receiver.of(s.id)).includes("ready"), 10_000, "ready");

    const got = receiver.of(s.id);
    for (const r of got) {
      expect(verify(secret, r)).toBeTruthy();
      expect(r.json).toMatchObject({ id: r.id, sessionId: s.id, sessionName: "hooked" });
      expect(Object.keys(r.json).sort()).toEqual(["data", "event", "id", "sessionId", "sessionName", "timestamp"]);
      expect(r.id).toMatch(/^msg_/);
      expect(r.body).not.toContain(s.apiKey);
    }
    // In the order the changes were made: the same as the session's own events, oldest first.
    const stored = await storedStates(t, s.id);
    expect(states(got)).toEqual(stored.slice(0, states(got).length));
    expect(states(got).slice(0, 2)).toEqual(["creating", "starting"]);
    const ready = got.find((r) => r.json.event === "session.state" && r.json.data.state === "ready")!;
    expect(ready.json.data).toMatchObject({ previousState: "connecting", phoneNumber: PHONE });
    expect(got.find((r) => r.json.event === "session.contacts")!.json.data.contacts[0]).toMatchObject({ id: `${OTHER}@s.whatsapp.net`, name: "John Doe" });
    expect(got.find((r) => r.json.event === "session.chats")!.json.data.chats[0]).toMatchObject({ id: `${OTHER}@s.whatsapp.net`, unreadCount: 2 });

    const sample = got[0]!;
    expect(() => verify(secret, { ...sample, body: sample.body.replace("hooked", "hacked") })).toThrow();
    expect(() => verify(secret, { ...sample, headers: { ...sample.headers, "webhook-timestamp": String(Math.floor(Date.now() / 1000) - 600) } })).toThrow();
    expect(() => verify("whsec_" + Buffer.alloc(32, 7).toString("base64"), sample)).toThrow();

    // Subscriptions: only what the session asked for from now on.
    const patched = await t.call("PATCH", `/sessions/${s.id}`, { body: { webhookEvents: ["session.state"] } });
    expect(patched.status).toBe(200);
    expect(patched.body.session).toMatchObject({ id: s.id, webhookUrl: receiver.url, webhookEvents: ["session.state"], webhookDisabledReason: null });
    const before = receiver.received.length;
    await t.call("POST", `/sessions/${s.id}/logout`);
    await waitFor(() => states(receiver.of(s.id)).includes("logged_out"), 15_000, "logged_out");
    expect(receiver.received.slice(before).every((r) => r.json.event === "session.state")).toBe(true);
    expect((await t.call("PATCH", `/sessions/${s.id}`, { body: { webhookEvents: ["session.nope"] } })).body).toMatchObject({ code: "VALIDATION_ERROR", field: "webhookEvents" });
    // null is every event again, as the settings show it.
    const all = await t.call("PATCH", `/sessions/${s.id}`, { body: { webhookEvents: null } });
    expect(all.body.session.webhookEvents).toBeNull();
    const mark = receiver.received.length;
    await t.call("POST", `/sessions/${s.id}/start`);
    await waitFor(() => receiver.received.slice(mark).some((r) => r.json.event === "session.qr"), 15_000, "session.qr again");
  });

  test("the deliveries list shows what became of each event", async () => {
    const s = await t.createSession(undefined, { webhookUrl: receiver.url });
    await waitFor(() => states(receiver.of(s.id)).includes("starting"), 10_000, "starting");
    const list = await waitFor(async () => {
      const res = await t.call("GET", `/sessions/${s.id}/webhook/deliveries?limit=10`, { key: s.apiKey });
      return res.body.deliveries?.filter((d: any) => d.status === "delivered").length >= 2 ? res.body.deliveries : undefined;
    }, 10_000, "delivered rows");
    expect(list[0]).toMatchObject({ event: expect.any(String), status: "delivered", attempts: 1, lastStatus: 200, lastError: null, nextAttemptAt: null });
    expect(Object.keys(list[0]).sort()).toEqual(["attempts", "createdAt", "event", "id", "lastError", "lastStatus", "nextAttemptAt", "status"]);
    // Newest first.
    expect(new Date(list[0].createdAt).getTime()).toBeGreaterThanOrEqual(new Date(list.at(-1).createdAt).getTime());
  });
});

describe("delivery that survives receivers and restarts", () => {
  test("a receiver down for a while gets every event once it is back, in order", async () => {
    const receiver = new WebhookReceiver().start();
    const t = await startTestApi("postgres", { WEBHOOK_BACKOFF_MS: "100" });
    try {
      receiver.stop(); // the port is closed: connections are refused
      const s = await t.createSession(undefined, { webhookUrl: receiver.url });
      await t.call("POST", `/sessions/${s.id}/stop`);
      await t.call("POST", `/sessions/${s.id}/start`);
      await t.call("POST", `/sessions/${s.id}/stop`);
      const failing = await waitFor(async () => {
        const d = (await t.call("GET", `/sessions/${s.id}/webhook/deliveries`)).body.deliveries;
        return d.some((x: any) => x.status === "failed" && x.attempts >= 2) ? d : undefined;
      }, 10_000, "failed attempts");
      expect(failing.find((x: any) => x.status === "failed").lastError).toContain("ECONNREFUSED");
      receiver.start();
      const { got, stored } = await allStates(t, receiver, s.id, 20_000);
      expect(got).toEqual(stored);
      expect(got.filter((x) => x === "stopped")).toHaveLength(2);
    } finally {
      await t.close();
      receiver.stop();
    }
  });

  test("the API killed mid-delivery loses nothing: after the restart the rest arrives in order", async () => {
    const receiver = new WebhookReceiver().start();
    let hang = true;
    receiver.answer = () => (hang ? "hang" : 200);
    const t = await startTestApi("postgres", { WEBHOOK_BACKOFF_MS: "100", WEBHOOK_TIMEOUT_MS: "60000" }, { process: true });
    try {
      const s = await t.createSession(undefined, { webhookUrl: receiver.url });
      await t.call("POST", `/sessions/${s.id}/stop`);
      await waitFor(() => receiver.received.length > 0, 10_000, "the first delivery to be in flight");
      await t.stopApi(); // SIGKILL while the receiver holds the first request
      hang = false;
      await t.restartApi();
      const { got, stored } = await allStates(t, receiver, s.id, 20_000);
      expect(got).toEqual(stored);
      expect(got.slice(0, 2)).toEqual(["creating", "starting"]);
      // At least once: the event that was in flight arrived again under the same id.
      expect(receiver.received.filter((r) => r.id === receiver.received[0]!.id).length).toBeGreaterThanOrEqual(2);
    } finally {
      await t.close();
      receiver.stop();
    }
  });

  test("410 Gone disables the webhook and says why; setting the URL again re-enables it", async () => {
    const receiver = new WebhookReceiver().start();
    receiver.answer = () => 410;
    const t = await startTestApi("postgres");
    try {
      const s = await t.createSession(undefined, { webhookUrl: receiver.url });
      const reason = await waitFor(async () => (await t.call("PATCH", `/sessions/${s.id}`, { body: {} })).body.session.webhookDisabledReason, 10_000, "disabled");
      expect(reason).toContain("410");
      const deliveries = (await t.call("GET", `/sessions/${s.id}/webhook/deliveries`)).body.deliveries;
      expect(deliveries.every((d: any) => d.status === "dead")).toBe(true);
      expect(deliveries.some((d: any) => d.lastStatus === 410)).toBe(true);
      const count = receiver.received.length;
      await t.call("POST", `/sessions/${s.id}/stop`);
      await Bun.sleep(300);
      expect(receiver.received.length).toBe(count); // nothing more goes to a receiver that is gone
      receiver.answer = () => 200;
      const patched = await t.call("PATCH", `/sessions/${s.id}`, { body: { webhookUrl: receiver.url } });
      expect(patched.body.session.webhookDisabledReason).toBeNull();
      await t.call("POST", `/sessions/${s.id}/start`);
      await waitFor(() => receiver.received.some((r) => r.json.event === "session.state" && r.json.data.state === "starting" && r.at > Date.now() - 5000), 10_000, "re-enabled");
    } finally {
      await t.close();
      receiver.stop();
    }
  });

  test("a slow receiver times out and retries, while another session's events arrive at once", async () => {
    const slow = new WebhookReceiver().start();
    slow.answer = () => "hang";
    const fast = new WebhookReceiver().start();
    const t = await startTestApi("postgres", { WEBHOOK_TIMEOUT_MS: "300", WEBHOOK_BACKOFF_MS: "100" });
    try {
      const a = await t.createSession(undefined, { webhookUrl: slow.url });
      const b = await t.createSession(undefined, { webhookUrl: fast.url });
      const started = Date.now();
      await waitFor(() => states(fast.of(b.id)).length >= 2, 5_000, "the fast receiver's events");
      expect(Date.now() - started).toBeLessThan(2000);
      const failed = await waitFor(async () => (await t.call("GET", `/sessions/${a.id}/webhook/deliveries`)).body.deliveries.find((d: any) => d.lastError), 5_000, "a timed-out attempt");
      expect(failed.lastError).toContain("TIMEOUT");
      expect(failed.status).toBe("failed");
    } finally {
      await t.close();
      slow.stop();
      fast.stop();
    }
  });

  test("a delivery is dead after the retry window and goes out again when retried by hand", async () => {
    const receiver = new WebhookReceiver().start();
    receiver.answer = () => 500;
    // 0.0005 h = 1.8 s of retries.
    const t = await startTestApi("postgres", { WEBHOOK_RETRY_HOURS: "0.0005", WEBHOOK_BACKOFF_MS: "100" });
    try {
      const s = await t.createSession(undefined, { webhookUrl: receiver.url });
      const dead = await waitFor(async () => {
        const d = (await t.call("GET", `/sessions/${s.id}/webhook/deliveries`, { key: s.apiKey })).body.deliveries;
        // The oldest two (creating, starting); the sandbox may have added more since.
        return d.length >= 2 && d.slice(-2).every((x: any) => x.status === "dead") ? d.slice(-2) : undefined;
      }, 15_000, "the first deliveries dead");
      for (const d of dead) expect(d).toMatchObject({ lastStatus: 500, nextAttemptAt: null });
      const first = dead.at(-1); // the oldest: `creating`
      // The oldest was retried with backoff until its window closed; the next one waited behind
      // it (order per session), so its window may have closed after a single attempt.
      expect(first.attempts).toBeGreaterThanOrEqual(2);
      receiver.answer = () => 200;
      const before = receiver.received.filter((r) => r.id === first.id).length;
      const retried = await t.call("POST", `/sessions/${s.id}/webhook/deliveries/${first.id}/retry`, { key: s.apiKey });
      expect(retried.status).toBe(200);
      expect(retried.body.delivery).toMatchObject({ id: first.id, status: "pending" });
      await waitFor(async () => (await t.call("GET", `/sessions/${s.id}/webhook/deliveries`)).body.deliveries.find((d: any) => d.id === first.id).status === "delivered", 5_000, "the retried delivery");
      expect(receiver.received.filter((r) => r.id === first.id).length).toBe(before + 1);
      expect((await t.call("POST", `/sessions/${s.id}/webhook/deliveries/${first.id}/retry`)).body.code).toBe("INVALID_DELIVERY_STATE");
      expect((await t.call("POST", `/sessions/${s.id}/webhook/deliveries/msg_nope/retry`)).status).toBe(404);
    } finally {
      await t.close();
      receiver.stop();
    }
  });

  test("a rotated secret signs what follows; the old one no longer verifies", async () => {
    const receiver = new WebhookReceiver().start();
    const t = await startTestApi("postgres");
    try {
      const s = await t.createSession(undefined, { webhookUrl: receiver.url });
      await waitFor(() => receiver.of(s.id).length >= 2, 10_000, "the first events");
      const rotated = await t.call("POST", `/sessions/${s.id}/webhook/secret`, { key: s.apiKey });
      expect(rotated.status).toBe(200);
      expect(rotated.body.webhookSecret).toMatch(/^whsec_/);
      expect(rotated.body.webhookSecret).not.toBe(s.body.webhookSecret);
      await t.call("POST", `/sessions/${s.id}/stop`);
      const stopped = await waitFor(() => receiver.of(s.id).find((r) => r.json.data.state === "stopped"), 10_000, "stopped");
      expect(verify(rotated.body.webhookSecret, stopped)).toBeTruthy();
      expect(() => verify(s.body.webhookSecret, stopped)).toThrow();
    } finally {
      await t.close();
      receiver.stop();
    }
  });
});

describe("a webhook that changes", () => {
  test("PATCHing a working URL sends what waited out a long backoff at once", async () => {
    const broken = new WebhookReceiver().start();
    broken.answer = () => 500;
    const fixed = new WebhookReceiver().start();
    // Ten minutes of backoff after the first failure: only the new URL can make it go sooner.
    const t = await startTestApi("postgres", { WEBHOOK_BACKOFF_MS: "600000" });
    try {
      const s = await t.createSession(undefined, { webhookUrl: broken.url });
      const failed = await waitFor(async () => {
        const d = (await t.call("GET", `/sessions/${s.id}/webhook/deliveries`)).body.deliveries;
        return d.find((x: any) => x.status === "failed");
      }, 10_000, "a failed attempt");
      expect(new Date(failed.nextAttemptAt).getTime()).toBeGreaterThan(Date.now() + 60_000);
      expect((await t.call("PATCH", `/sessions/${s.id}`, { key: s.apiKey, body: { webhookUrl: fixed.url } })).status).toBe(200);
      const { got, stored } = await allStates(t, fixed, s.id, 5_000);
      expect(got).toEqual(stored);
    } finally {
      await t.close();
      broken.stop();
      fixed.stop();
    }
  });

  test("20 rotations at once: each answers a secret in force when it answered, or 409 CONFLICT; the last one answered signs", async () => {
    const receiver = new WebhookReceiver().start();
    const t = await startTestApi("postgres");
    try {
      const s = await t.createSession(undefined, { webhookUrl: receiver.url });
      await waitFor(() => receiver.of(s.id).length >= 2, 10_000, "the first events");
      const answered: { status: number; body: any }[] = [];
      await Promise.all(Array.from({ length: 20 }, () => t.call("POST", `/sessions/${s.id}/webhook/secret`, { key: s.apiKey }).then((a) => void answered.push(a))));
      const won = answered.filter((a) => a.status === 200);
      for (const a of answered.filter((x) => x.status !== 200)) expect({ status: a.status, code: a.body.code }).toEqual({ status: 409, code: "CONFLICT" });
      // Only truly overlapping rotations conflict; how many overlap is the server's timing
      // (test/unit/sessions.test.ts pins the conflict itself).
      expect(won.length).toBeGreaterThanOrEqual(1);
      expect(new Set(won.map((a) => a.body.webhookSecret)).size).toBe(won.length);
      await t.call("POST", `/sessions/${s.id}/stop`);
      const stopped = await waitFor(() => receiver.of(s.id).find((r) => r.json.data.state === "stopped"), 10_000, "stopped");
      expect(verify(won.at(-1)!.body.webhookSecret, stopped)).toBeTruthy();
      for (const a of won.slice(0, -1)) expect(() => verify(a.body.webhookSecret, stopped)).toThrow();
      // One after another, each rotation wins.
      const next = await t.call("POST", `/sessions/${s.id}/webhook/secret`, { key: s.apiKey });
      expect(next.status).toBe(200);
      expect(next.body.webhookSecret).not.toBe(won.at(-1)!.body.webhookSecret);
    } finally {
      await t.close();
      receiver.stop();
    }
  });
});

describe("the SSRF guard", () => {
  let t: TestApi;
  const receiver = new WebhookReceiver();
  beforeAll(async () => {
    receiver.start();
    t = await startTestApi("postgres", { ALLOW_PRIVATE_ADDRESSES: "false" });
  });
  afterAll(async () => {
    await t?.close();
    receiver.stop();
  });

  // IP literals and names from /etc/hosts only: no test asks a DNS server anything.
  const refused = [
    ["loopback", "http://127.0.0.1:8080/x"],
    ["loopback by name", "http://localhost/x"],
    ["IPv6 loopback", "http://[::1]/x"],
    ["IPv4-mapped loopback", "http://[::ffff:127.0.0.1]/x"],
    ["private 10/8", "http://10.0.0.1/x"],
    ["private 172.16/12", "https://172.16.5.4/x"],
    ["private 192.168/16", "http://192.168.1.1/x"],
    ["link-local", "http://169.254.10.10/x"],
    ["cloud metadata", "http://169.254.169.254/latest/meta-data"],
    ["carrier-grade NAT", "http://100.64.0.1/x"],
    ["multicast", "http://224.0.0.1/x"],
    ["unspecified", "http://0.0.0.0/x"],
    ["IPv6 unique local", "http://[fd00::1]/x"],
    ["IPv6 link-local", "http://[fe80::1]/x"],
    ["decimal loopback", "http://2130706433/x"],
    ["not http", "ftp://93.184.216.34/x"],
  ];
  for (const [what, url] of refused) {
    test(`create refuses a webhook URL to ${what}`, async () => {
      const res = await t.call("POST", "/sessions/create", { body: { name: `ssrf-${crypto.randomUUID().slice(0, 8)}`, webhookUrl: url } });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ success: false, code: "VALIDATION_ERROR", field: "webhookUrl" });
    });
  }

  test("a send's media.url at loopback (by address or by name) is 400 naming media.url, and no request is made", async () => {
    let asked = 0;
    const files = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => (asked++, new Response("%PDF-1.4\n%%EOF\n")) });
    try {
      const s = await t.createSession(`media-url-${crypto.randomUUID().slice(0, 8)}`);
      for (const url of [`http://127.0.0.1:${files.port}/a.pdf`, `http://localhost:${files.port}/a.pdf`, "http://169.254.169.254/latest/meta-data"]) {
        const res = await t.call("POST", `/sessions/${s.id}/messages`, { key: s.apiKey, body: { to: "4915112345678", type: "document", media: { url } } });
        expect({ url, status: res.status, code: res.body.code, field: res.body.field }).toEqual({ url, status: 400, code: "VALIDATION_ERROR", field: "media.url" });
      }
      expect(asked).toBe(0);
    } finally {
      files.stop(true);
    }
  });

  // Writes the database behind the API's back, so only with the API in this process (not on Deno).
  test.skipIf(testApiRuntime() !== "bun")("PATCH refuses them too, and a URL that slipped into the database is refused again at delivery", async () => {
    const s = await t.createSession();
    const res = await t.call("PATCH", `/sessions/${s.id}`, { body: { webhookUrl: receiver.url } });
    expect(res.status).toBe(400);
    expect(res.body.field).toBe("webhookUrl");
    // Written behind the API's back (an older version, a hand-edited row): still never sent.
    const { SessionRepository } = await import("../../src/db/session-repository");
    await new SessionRepository(t.api.database.db).updateSettings(s.id, { webhookUrl: receiver.url });
    await t.call("POST", `/sessions/${s.id}/stop`);
    const failed = await waitFor(async () => (await t.call("GET", `/sessions/${s.id}/webhook/deliveries`)).body.deliveries.find((d: any) => d.lastError), 10_000, "a refused attempt");
    expect(failed.lastError).toContain("FORBIDDEN_ADDRESS");
    expect(receiver.received).toHaveLength(0);
  });
});
