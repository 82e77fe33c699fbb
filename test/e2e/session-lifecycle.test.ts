// The centrepiece: rootless Podman running the real sandbox image, the WhatsApp emulator on a
// unix socket, the API as its own process. Every step checks state through the REST API only.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import jsQR from "jsqr";
import { PNG } from "pngjs";
import { containerName, volumeName } from "../../src/runtime/podman-runtime";
import { inspectContainer } from "../../src/runtime/podman/containers";
import { volumeExists } from "../../src/runtime/podman/volumes";
import type { RunningEmulator } from "../emulator";
import { startTestApi, type Backend, type TestApi } from "../support/api";
import { emulatorControl, startEmulatorForContainers } from "../support/emulator";
import { waitFor } from "../support/env";

const PHONE = "4915112340001";
const OTHER = "4915112340002";
const UNKNOWN = "4915112349999";

// PostgreSQL by default; TEST_E2E_BACKENDS=pglite,postgres runs the whole life on each (scripts/test.sh does so for the API on Deno).
const e2eBackends = (process.env.TEST_E2E_BACKENDS ?? "postgres").split(",") as Backend[];

for (const backend of e2eBackends)
describe(`a session's whole life, end to end (${backend})`, () => {
  let emu: RunningEmulator;
  let t: TestApi;
  let id = "";
  let key = "";
  const states: string[] = [];

  const control = (method: string, path: string, body?: unknown) => emulatorControl(emu)(method, path, body);
  const status = async () => {
    const res = await t.call("GET", `/sessions/${id}/status`, { key });
    expect(res.status).toBe(200);
    states.push(res.body.session.state);
    return res.body.session;
  };
  const waitState = (state: string, ms = 30_000) => waitFor(async () => ((await status()).state === state ? true : undefined), ms, `state ${state}`);

  beforeAll(async () => {
    emu = await startEmulatorForContainers();
    await control("PUT", `/control/phones/${PHONE}/history`, {
      contacts: [
        { id: `${OTHER}@s.whatsapp.net`, name: "John Doe", notify: "John" },
      ],
      chats: [
        { id: `${OTHER}@s.whatsapp.net`, name: "John Doe", isGroup: false, unreadCount: 2, timestamp: 1706443200 },
        { id: "120363123456789@g.us", name: "Family Group", isGroup: true, unreadCount: 0, timestamp: 1706443100 },
      ],
    });
    await control("POST", "/control/numbers", { add: [OTHER] });
    t = await startTestApi(
      backend,
      { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, SANDBOX_REQUEST_TIMEOUT_MS: "1500", CHECK_NUMBER_PER_MINUTE: "10" },
      { process: true },
    );
  });

  afterAll(async () => {
    await t?.close();
    await emu?.stop();
  });

  test("create, then qr_ready with a QR as JSON and as a decodable PNG", async () => {
    const created = await t.call("POST", "/sessions/create", { body: { name: "e2e-session" } });
    expect(created.status).toBe(201);
    id = created.body.session.id;
    key = created.body.apiKey;
    await waitState("qr_ready");
    const qr = await t.call("GET", `/sessions/${id}/qr`, { key });
    expect(qr.status).toBe(200);
    expect(qr.body.qr).toStartWith("https://wa.me/settings/linked_devices#");
    const png = await fetch(`${t.url}/sessions/${id}/qr?format=png`, { headers: { "x-api-key": key } });
    expect(png.headers.get("content-type")).toBe("image/png");
    const image = PNG.sync.read(Buffer.from(await png.arrayBuffer()));
    const decoded = jsQR(new Uint8ClampedArray(image.data), image.width, image.height);
    // The PNG shows the QR the API answered (or a newer one, if the sandbox rotated it since).
    expect(decoded?.data).toStartWith("https://wa.me/settings/linked_devices#");
    const byAccept = await fetch(`${t.url}/sessions/${id}/qr`, { headers: { "x-api-key": key, accept: "image/png" } });
    expect(byAccept.headers.get("content-type")).toBe("image/png");
  });

  test("scanning the QR with the emulator's phone makes the session ready with its number", async () => {
    const { body } = await t.call("GET", `/sessions/${id}/qr`, { key });
    const scan = await control("POST", "/control/scan", { qr: body.qr, phoneNumber: PHONE, pushName: "E2E Phone" });
    expect(scan.status).toBe(200);
    await waitState("ready");
    expect((await status()).phoneNumber).toBe(PHONE);
    expectError409(await t.call("GET", `/sessions/${id}/qr`, { key }), "ready");
  });

  test("check-number answers true and false", async () => {
    const yes = await t.call("GET", `/sessions/${id}/check-number/${OTHER}`, { key });
    expect(yes.body).toEqual({ success: true, exists: true, jid: `${OTHER}@s.whatsapp.net` });
    const no = await t.call("GET", `/sessions/${id}/check-number/+${UNKNOWN}`, { key });
    expect(no.body).toEqual({ success: true, exists: false, jid: null });
  });

  test("a sandbox that does not answer in time gives 504; bulk checks hit the rate limit (429)", async () => {
    await control("POST", "/control/latency", { ms: 2500 });
    const slow = await t.call("GET", `/sessions/${id}/check-number/${OTHER}`, { key });
    expect(slow.status).toBe(504);
    expect(slow.body.code).toBe("SANDBOX_TIMEOUT");
    await control("POST", "/control/latency", { ms: 0 });
    const codes: number[] = [];
    for (let i = 0; i < 10; i++) codes.push((await t.call("GET", `/sessions/${id}/check-number/${OTHER}`, { key })).status);
    // 10 a minute: three were spent above (two checks and the slow one), so seven pass.
    expect(codes).toEqual([200, 200, 200, 200, 200, 200, 200, 429, 429, 429]);
    const limited = await t.call("GET", `/sessions/${id}/check-number/${OTHER}`, { key });
    expect(limited.body.code).toBe("RATE_LIMITED");
  });

  test("contacts and chats are those the phone sent", async () => {
    const chats = await waitFor(async () => {
      const r = await t.call("GET", `/sessions/${id}/chats`, { key });
      return r.body.chats.length === 2 ? r.body.chats : undefined;
    }, 15_000, "two chats");
    expect(chats).toEqual([
      { id: `${OTHER}@s.whatsapp.net`, name: "John Doe", isGroup: false, unreadCount: 2, timestamp: 1706443200 },
      { id: "120363123456789@g.us", name: "Family Group", isGroup: true, unreadCount: 0, timestamp: 1706443100 },
    ]);
    const contacts = await waitFor(async () => {
      const r = await t.call("GET", `/sessions/${id}/contacts`, { key });
      const john = r.body.contacts.find((c: any) => c.id === `${OTHER}@s.whatsapp.net`);
      return john?.notify ? r.body.contacts : undefined;
    }, 15_000, "contacts with push names");
    expect(contacts).toEqual([{ id: `${OTHER}@s.whatsapp.net`, name: "John Doe", notify: "John", verifiedName: null, phone: OTHER }]);
  });

  test("stop stops the container and keeps the volume; start reconnects with no new QR", async () => {
    expect((await t.call("POST", `/sessions/${id}/stop`, { key })).status).toBe(200);
    expect((await status()).state).toBe("stopped");
    const box = await inspectContainer(t.runtime.client, containerName(id));
    expect(box.State.Running).toBe(false);
    expect(await volumeExists(t.runtime.client, volumeName(id))).toBe(true);

    states.length = 0;
    expect((await t.call("POST", `/sessions/${id}/start`, { key })).status).toBe(200);
    await waitState("ready");
    expect(states).not.toContain("qr_ready");
    expect((await status()).phoneNumber).toBe(PHONE);
  });

  test("the API killed and restarted mid-session: the session stays ready and keeps answering", async () => {
    await t.stopApi(); // SIGKILL
    const running = await t.runtime.list();
    expect(running.find((b) => b.sessionId === id)?.running).toBe(true);
    await t.restartApi();
    expect((await status()).state).toBe("ready");
    const check = await waitFor(async () => {
      const r = await t.call("GET", `/sessions/${id}/check-number/${OTHER}`, { key });
      if (r.status !== 200) throw new Error(`${r.status} ${JSON.stringify(r.body)}`); // shown if it never passes
      return r;
    }, 20_000, "check-number after the API restart");
    expect(check.body.exists).toBe(true);
  });

  test("the emulator dropping the connection: disconnected, then ready again", async () => {
    states.length = 0;
    const drop = await control("POST", "/control/drop", { phoneNumber: PHONE });
    expect(drop.body.dropped).toBeGreaterThan(0);
    await waitFor(async () => (states.includes("disconnected") || (await status()).state === "disconnected" ? true : undefined), 15_000, "disconnected");
    await waitState("ready");
  });

  test("logout unlinks the device and leaves the session logged_out", async () => {
    const res = await t.call("POST", `/sessions/${id}/logout`, { key });
    expect(res.body).toEqual({ success: true, message: "Session logged out successfully" });
    const s = await status();
    expect(s.state).toBe("logged_out");
    expect(s.phoneNumber).toBeNull();
    const devices = await control("GET", "/control/devices");
    expect(devices.body.devices.every((d: any) => !d.linked)).toBe(true);
    expect((await t.call("GET", `/sessions/${id}/contacts`, { key })).body.contacts).toEqual([]);
  });

  test("start after logout shows a new QR", async () => {
    expect((await t.call("POST", `/sessions/${id}/start`, { key })).status).toBe(200);
    await waitState("qr_ready");
  });

  test("linking by phone number: the API answers the code, the phone enters it, the session is ready", async () => {
    const bad = await t.call("POST", `/sessions/${id}/pairing-code`, { key, body: { phoneNumber: "12ab" } });
    expect(bad.status).toBe(400);
    const res = await t.call("POST", `/sessions/${id}/pairing-code`, { key, body: { phoneNumber: `+${PHONE}` } });
    expect(res.status).toBe(200);
    expect(res.body.code).toMatch(/^[A-Z0-9]{8}$/);
    const pair = await control("POST", "/control/pair", { phoneNumber: PHONE, code: res.body.code });
    expect(pair.status).toBe(200);
    await waitState("ready");
    expect((await status()).phoneNumber).toBe(PHONE);
    // Not awaiting linking any more: a pairing code is refused, naming the state.
    expectError409(await t.call("POST", `/sessions/${id}/pairing-code`, { key, body: { phoneNumber: PHONE } }), "ready");
  });

  test("delete removes container and volume", async () => {
    expect((await t.call("DELETE", `/sessions/${id}`, { key })).status).toBe(200);
    expect(await t.runtime.exists(id)).toBe(false);
    expect(await volumeExists(t.runtime.client, volumeName(id))).toBe(false);
    expect((await t.call("GET", `/sessions/${id}/status`)).status).toBe(404);
  });
});

function expectError409(res: { status: number; body: any }, state: string) {
  expect(res.status).toBe(409);
  expect(res.body.state).toBe(state);
}
