// Each thing the emulator must do, proven against a real Baileys client in this process.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Curve, DisconnectReason, WA_CERT_DETAILS } from "@whiskeysockets/baileys";
import { enforceSignatureChecks, shippedVerify } from "../../sandbox/verify-signatures";
import { chmodSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmulator, trustRoot, type RunningEmulator } from ".";
import { connectClient, linkClient, type TestClient } from "./test-client";
import { emulatorControl } from "../support/emulator";

const realRoot = Buffer.from(WA_CERT_DETAILS.PUBLIC_KEY);
let emu: RunningEmulator;
const clients: TestClient[] = [];
let phoneSeq = 0;
const newPhone = () => `49151${String(Date.now()).slice(-6)}${String(phoneSeq++).padStart(2, "0")}`;

const control = (method: string, path: string, body?: unknown) => emulatorControl(emu)(method, path, body);

async function client(opts: Parameters<typeof connectClient>[1] = {}) {
  const c = await connectClient(emu.wsUrl, opts);
  clients.push(c);
  return c;
}

/** A client linked to `phone` and open, the way the sandbox does it (reconnect on 515). */
async function linked(phone: string) {
  return linkClient(emu.wsUrl, (qr) => control("POST", "/control/scan", { qr, phoneNumber: phone, pushName: "Test Phone" }), (c) => clients.push(c));
}

beforeAll(async () => {
  emu = await startEmulator({ qrRefs: 3, logLevel: "silent" });
  trustRoot(emu.trustRoot);
});

afterAll(async () => {
  for (const c of clients) c.end();
  await emu.stop();
  WA_CERT_DETAILS.PUBLIC_KEY = realRoot;
});

describe("handshake", () => {
  test("a client that trusts the emulator's root completes the Noise handshake and gets a QR", async () => {
    const c = await client();
    const qr = await c.waitFor(() => c.qrs[0], 5000, "a QR");
    expect(qr).toMatch(/^https:\/\/wa\.me\/settings\/linked_devices#2@[^,]+,[^,]+,[^,]+,[^,]+/);
  });

  test("Baileys rc14 as shipped accepts any well-formed signature; the sandbox's check does not", () => {
    const signer = Curve.generateKeyPair();
    const stranger = Curve.generateKeyPair();
    const sig = Curve.sign(signer.private, Buffer.from("chain"));
    expect(shippedVerify(stranger.public, Buffer.from("chain"), sig)).toBe(true); // the upstream bug
    enforceSignatureChecks();
    expect(Curve.verify(stranger.public, Buffer.from("chain"), sig)).toBe(false);
    expect(Curve.verify(signer.public, Buffer.from("chain"), sig)).toBe(true);
  });

  test("a client that trusts another root fails the handshake", async () => {
    WA_CERT_DETAILS.PUBLIC_KEY = realRoot; // WhatsApp's own root: the emulator's chain does not verify
    try {
      const c = await client();
      const close = await c.waitFor(() => c.closes[0], 5000, "the handshake to fail");
      expect(close.message).toContain("certificate");
      expect(c.qrs).toEqual([]);
    } finally {
      trustRoot(emu.trustRoot);
    }
  });
});

describe("QR", () => {
  test("QRs rotate on the client's schedule and end with the timed-out reason when refs run out", async () => {
    const c = await client({ qrTimeout: 150 });
    const close = await c.waitFor(() => c.closes[0], 5000, "the QR refs to run out");
    expect(close.code).toBe(DisconnectReason.timedOut);
    expect(close.message).toContain("QR refs attempts ended");
    expect(c.qrs).toHaveLength(3);
    expect(new Set(c.qrs.map((q) => q.split("#")[1]!.split(",")[0])).size).toBe(3);
  });
});

describe("scan and login", () => {
  test("scan links the device, the stream restarts (515) and the client opens", async () => {
    const phone = newPhone();
    const first = await client();
    const qr = await first.waitFor(() => first.qrs[0], 5000, "a QR");
    const scan = await control("POST", "/control/scan", { qr, phoneNumber: phone, pushName: "Ann" });
    expect(scan.body).toEqual({ success: true, jid: `${phone}:1@s.whatsapp.net`, phoneNumber: phone });
    await first.waitFor(() => first.closes.find((c) => c.code === DisconnectReason.restartRequired), 3000, "restart required");
    const second = await client({ dir: first.dir });
    // Bounded, not timed: how fast is bench/emulator.ts's to say (a busy CI host took 1.1 s once).
    await second.waitFor(() => second.opened, 3000, "open");
    expect(second.sock.user?.id).toBe(`${phone}:1@s.whatsapp.net`);
    const devices = await control("GET", "/control/devices");
    expect(devices.body.devices).toContainEqual(expect.objectContaining({ jid: `${phone}:1@s.whatsapp.net`, linked: true, connected: true }));
  });

  test("a QR nobody shows, or a malformed one, is refused with 4xx", async () => {
    expect((await control("POST", "/control/scan", { qr: "https://wa.me/settings/linked_devices#x,y,z,w", phoneNumber: "4915100000000" })).status).toBe(400);
    const c = await client();
    const qr = await c.waitFor(() => c.qrs[0], 5000, "a QR");
    const [ref, ...rest] = qr.split("#")[1]!.split(",");
    const forged = `https://wa.me/settings/linked_devices#${ref}x,${rest.join(",")}`;
    expect((await control("POST", "/control/scan", { qr: forged, phoneNumber: "4915100000000" })).status).toBe(404);
    expect((await control("POST", "/control/scan", { qr, phoneNumber: "12ab" })).status).toBe(400);
  });

  test("an iq the emulator does not know gets a well-formed error answer, not silence", async () => {
    const { second } = await linked(newPhone());
    const started = Date.now();
    const err = await second.sock
      .query({ tag: "iq", attrs: { to: "s.whatsapp.net", type: "get", xmlns: "emulator:unknown" }, content: [{ tag: "thing", attrs: {} }] })
      .catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String(err.message)).toContain("feature-not-implemented");
    // Answered, not left to Baileys' 60 s query timeout.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test("a second login of a connected device replaces the first (conflict replaced, 440) and is counted; a reconnect is not", async () => {
    const phone = newPhone();
    const jid = `${phone}:1@s.whatsapp.net`;
    const { second: older } = await linked(phone);
    const replaced = async () => (await control("GET", "/control/stats")).body.sockets.replaced as number;
    const before = await replaced();
    const streamErrors: { attrs: Record<string, string>; content?: unknown }[] = [];
    older.sock.ws.on("CB:stream:error", (n: { attrs: Record<string, string>; content?: unknown }) => void streamErrors.push(n));

    // The same saved credentials log in again while the older connection is still open.
    const newer = await client({ dir: older.dir });
    await newer.waitFor(() => newer.opened, 5000, "the newer connection to open");
    const close = await older.waitFor(() => older.closes[0], 3000, "the older connection to be replaced");
    expect(close.code).toBe(DisconnectReason.connectionReplaced);
    expect(close.message).toBe("Stream Errored (conflict)");
    expect(streamErrors).toHaveLength(1);
    expect(streamErrors[0]!.attrs).toEqual({});
    expect(streamErrors[0]!.content).toEqual([{ tag: "conflict", attrs: { type: "replaced" }, content: undefined }]);
    expect(await replaced()).toBe(before + 1);
    // The newer one stays connected and served.
    expect(newer.closes).toEqual([]);
    expect((await control("GET", "/control/devices")).body.devices).toContainEqual(expect.objectContaining({ jid, connected: true }));
    expect(await newer.sock.onWhatsApp(phone)).toEqual([{ jid: `${phone}@s.whatsapp.net`, exists: true }]);

    // A plain reconnect, once the previous connection is gone, replaces nothing.
    newer.end();
    await newer.waitFor(
      async () => !(await control("GET", "/control/devices")).body.devices.some((d: { jid: string; connected: boolean }) => d.jid === jid && d.connected),
      3000,
      "the device to be disconnected",
    );
    const again = await client({ dir: older.dir });
    await again.waitFor(() => again.opened, 5000, "open after reconnecting");
    expect(await replaced()).toBe(before + 1);
  });
});

describe("directory", () => {
  test("onWhatsApp reports registered and unregistered numbers, several at once", async () => {
    const { second } = await linked(newPhone());
    const on = newPhone();
    const off = newPhone();
    await control("POST", "/control/numbers", { add: [on] });
    const res = await second.sock.onWhatsApp(on, off);
    expect(res).toEqual([{ jid: `${on}@s.whatsapp.net`, exists: true }]);
    await control("POST", "/control/numbers", { remove: [on], add: [off] });
    expect(await second.sock.onWhatsApp(on, off)).toEqual([{ jid: `${off}@s.whatsapp.net`, exists: true }]);
    expect((await control("POST", "/control/numbers", { add: ["nope"] })).status).toBe(400);
  });
});

describe("history", () => {
  test("a newly linked device receives the phone's chats and contacts, Signal-encrypted", async () => {
    const phone = newPhone();
    const put = await control("PUT", `/control/phones/${phone}/history`, {
      contacts: [{ id: "4915199990001@s.whatsapp.net", name: "John Doe", notify: "John" }],
      chats: [
        { id: "4915199990001@s.whatsapp.net", name: "John Doe", isGroup: false, unreadCount: 2, timestamp: 1706443200 },
        { id: "120363123456789@g.us", name: "Family Group", isGroup: true, unreadCount: 0, timestamp: 1706443100 },
      ],
    });
    expect(put.body).toEqual({ success: true, contacts: 1, chats: 2 });
    const { second } = await linked(phone);
    await second.waitFor(() => second.history.length >= 2, 5000, "history");
    const chats = second.history.flatMap((h) => h.chats);
    expect(chats.map((c) => [c.id, c.name, c.unreadCount, Number(c.conversationTimestamp)])).toEqual([
      ["4915199990001@s.whatsapp.net", "John Doe", 2, 1706443200],
      ["120363123456789@g.us", "Family Group", 0, 1706443100],
    ]);
    const contacts = second.history.flatMap((h) => h.contacts);
    expect(contacts).toContainEqual(expect.objectContaining({ id: "4915199990001@s.whatsapp.net", name: "John Doe" }));
    expect(contacts).toContainEqual(expect.objectContaining({ id: "4915199990001@s.whatsapp.net", notify: "John" }));
  });

  test("history input is validated", async () => {
    expect((await control("PUT", "/control/phones/4915100000000/history", { chats: [{ id: "no-jid" }] })).status).toBe(400);
    expect((await control("PUT", "/control/phones/4915100000000/history", "not json")).status).toBe(400);
  });
});

describe("faults", () => {
  test("unlink logs the connected device out, and it cannot log in again", async () => {
    const phone = newPhone();
    const { second } = await linked(phone);
    const res = await control("POST", `/control/phones/${phone}/unlink`);
    expect(res.body.unlinked).toEqual([`${phone}:1@s.whatsapp.net`]);
    const close = await second.waitFor(() => second.closes[0], 3000, "logged out");
    expect(close.code).toBe(DisconnectReason.loggedOut);
    const again = await client({ dir: second.dir });
    const refused = await again.waitFor(() => again.closes[0], 3000, "login refused");
    expect(refused.code).toBe(DisconnectReason.loggedOut);
  });

  test("a dropped connection reconnects with its credentials and opens again", async () => {
    const phone = newPhone();
    const { second } = await linked(phone);
    const drop = await control("POST", "/control/drop", { phoneNumber: phone });
    expect(drop.body.dropped).toBe(1);
    await second.waitFor(() => second.closes[0], 3000, "the drop");
    const again = await client({ dir: second.dir });
    await again.waitFor(() => again.opened, 3000, "open after the drop");
    expect(again.qrs).toEqual([]);
  });

  test("refusing connections for a while, then accepting them again", async () => {
    expect((await control("POST", "/control/refuse", { seconds: 1 })).status).toBe(200);
    const refused = await client();
    await refused.waitFor(() => refused.closes[0], 3000, "refused");
    expect(refused.qrs).toEqual([]);
    await Bun.sleep(1100);
    const ok = await client();
    await ok.waitFor(() => ok.qrs[0], 3000, "a QR once accepting again");
    expect((await control("POST", "/control/refuse", { seconds: -1 })).status).toBe(400);
  });
});

describe("running it alone", () => {
  test("`bun run emulator` prints {wsUrl, controlUrl, trustRoot, media…} first; EMULATOR_SOCKET and EMULATOR_MEDIA_SOCKET serve unix sockets", async () => {
    const dir = mkdtempSync(join(tmpdir(), "emu-cli-"));
    chmodSync(dir, 0o755);
    const socketPath = join(dir, "wa.sock");
    const mediaSocketPath = join(dir, "media.sock");
    const proc = Bun.spawn(["bun", "run", "emulator"], {
      cwd: join(import.meta.dir, "../.."),
      env: { ...process.env, EMULATOR_SOCKET: socketPath, EMULATOR_MEDIA_SOCKET: mediaSocketPath, EMULATOR_LOG_LEVEL: "silent" },
      stdout: "pipe",
      stderr: "ignore",
    });
    try {
      const reader = proc.stdout.getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      const first = JSON.parse(text.split("\n")[0]!);
      expect(Object.keys(first).sort()).toEqual(["controlUrl", "mediaCa", "mediaSocketPath", "mediaUrl", "trustRoot", "wsUrl"]);
      expect(first.wsUrl).toBe(`ws+unix://${socketPath}:/ws/chat`);
      expect(first.controlUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(first.trustRoot).toMatch(/^[0-9a-f]{64}$/);
      expect(first.mediaUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(first.mediaCa).toStartWith("-----BEGIN CERTIFICATE-----");
      expect(first.mediaSocketPath).toBe(mediaSocketPath);
      // The media server answers on both, trusting only its CA (an unknown file is a 404).
      const tls = { ca: first.mediaCa as string };
      expect((await fetch(`${first.mediaUrl}/v/t62.7118-24/none.enc`, { tls })).status).toBe(404);
      expect((await fetch(`${first.mediaUrl}/v/t62.7118-24/none.enc`, { tls, unix: mediaSocketPath } as BunFetchRequestInit)).status).toBe(404);
      trustRoot(first.trustRoot);
      const c = await connectClient(first.wsUrl);
      clients.push(c);
      await c.waitFor(() => c.qrs[0], 5000, "a QR over the unix socket");
      expect((await fetch(`${first.controlUrl}/control/devices`)).status).toBe(200);
    } finally {
      trustRoot(emu.trustRoot);
      proc.kill();
      await proc.exited;
    }
  });
});

describe("pairing code", () => {
  test("the phone enters the code the device shows; a wrong code is refused", async () => {
    const phone = newPhone();
    const c = await client();
    await c.waitFor(() => c.qrs[0], 5000, "the device to be ready to link");
    const code = await c.sock.requestPairingCode(phone);
    expect(code).toMatch(/^[A-Z0-9]{8}$/);
    const wrong = code.slice(0, 7) + (code[7] === "A" ? "B" : "A");
    expect((await control("POST", "/control/pair", { phoneNumber: phone, code: wrong })).status).toBe(409);
    expect((await control("POST", "/control/pair", { phoneNumber: newPhone(), code })).status).toBe(404);
    const res = await control("POST", "/control/pair", { phoneNumber: phone, code });
    expect(res.body).toEqual({ success: true, jid: `${phone}:1@s.whatsapp.net`, phoneNumber: phone });
    await c.waitFor(() => c.closes.find((x) => x.code === DisconnectReason.restartRequired), 5000, "restart required");
    const again = await client({ dir: c.dir });
    await again.waitFor(() => again.opened, 5000, "open after linking by code");
    expect(again.sock.user?.id).toBe(`${phone}:1@s.whatsapp.net`);
  });
});
