// 1:1 messaging against a real Baileys client: the emulator's contacts are Signal parties that
// decrypt what the client sends, answer receipts, and write back with real Signal sessions.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { proto, WA_CERT_DETAILS, type BinaryNode } from "@whiskeysockets/baileys";
import { emulatorControl } from "../support/emulator";
import { startEmulator, trustRoot, type RunningEmulator } from ".";
import { connectClient, linkClient, type TestClient } from "./test-client";

const { Status } = proto.WebMessageInfo;
const realRoot = Buffer.from(WA_CERT_DETAILS.PUBLIC_KEY);
let emu: RunningEmulator;
const clients: TestClient[] = [];
let seq = 0;
const newNumber = () => `4917${String(Date.now()).slice(-7)}${String(seq++).padStart(2, "0")}`;
const control = (method: string, path: string, body?: unknown) => emulatorControl(emu)(method, path, body);

async function linked(phone: string) {
  const { second } = await linkClient(emu.wsUrl, (qr) => control("POST", "/control/scan", { qr, phoneNumber: phone }), (c) => clients.push(c));
  return second;
}

async function contact() {
  const n = newNumber();
  expect((await control("POST", "/control/numbers", { add: [n] })).status).toBe(200);
  return n;
}

/** The `enc` types of the messages a client's socket receives, by message id. */
function encTypes(c: TestClient): Map<string, string> {
  const types = new Map<string, string>();
  c.sock.ws.on("CB:message", (n: BinaryNode) => {
    const enc = Array.isArray(n.content) ? n.content.find((x) => x.tag === "enc") : undefined;
    if (enc) types.set(n.attrs.id!, enc.attrs.type!);
  });
  return types;
}

/**
 * A status the client reported for its message: in a `messages.update`, or already in the
 * message's own upsert, as Baileys folds an update into an upsert still in its event buffer.
 */
const statusOf = (c: TestClient, id: string, status: number) => () =>
  c.updates.find((u) => u.key.id === id && u.update.status === status) ??
  c.messages.filter((m) => m.key.id === id && m.status === status).map((m) => ({ key: m.key, update: { status: m.status, messageStubParameters: m.messageStubParameters } }))[0];
const upserted = (c: TestClient, id: string) => () => c.messages.find((m) => m.key.id === id);

async function received(number: string) {
  const res = await control("GET", `/control/phones/${number}/received`);
  expect(res.status).toBe(200);
  return res.body.messages as { id: string; from: string; text: string; timestamp: number }[];
}

beforeAll(async () => {
  emu = await startEmulator({ logLevel: (process.env.EMULATOR_LOG_LEVEL as "info") || "silent" });
  trustRoot(emu.trustRoot);
});

afterAll(async () => {
  for (const c of clients) c.end();
  await emu.stop();
  WA_CERT_DETAILS.PUBLIC_KEY = realRoot;
});

describe("a linked device sends", () => {
  test("the contact decrypts the text under Baileys' id, the device sees it delivered, then read", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const to = await contact();
    const before = Math.floor(Date.now() / 1000);
    const sent = await c.sendText(to, "Hello from Baileys ✓");
    const id = sent.key.id!;
    const got = await c.waitFor(async () => (await received(to)).find((m) => m.id === id), 5000, "the contact to receive it");
    expect(got).toEqual({ id, from: phone, text: "Hello from Baileys ✓", timestamp: expect.any(Number) });
    expect(got.timestamp).toBeGreaterThanOrEqual(before);

    const delivered = await c.waitFor(statusOf(c, id, Status.DELIVERY_ACK), 5000, "the delivery receipt");
    expect(delivered.key).toMatchObject({ remoteJid: `${to}@s.whatsapp.net`, fromMe: true });
    expect(c.updates.some((u) => u.key.id === id && u.update.status === Status.ERROR)).toBe(false);

    expect((await control("POST", "/control/read", { by: to, to: phone, ids: [id] })).body).toEqual({ success: true });
    const read = await c.waitFor(statusOf(c, id, Status.READ), 5000, "the read receipt");
    expect(read.key).toMatchObject({ remoteJid: `${to}@s.whatsapp.net`, fromMe: true });
  });

  test("several messages keep the ratchet going and arrive in order", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const to = await contact();
    const ids: string[] = [];
    for (const text of ["one", "two", "three"]) ids.push((await c.sendText(to, text)).key.id!);
    const got = await c.waitFor(async () => {
      const list = await received(to);
      return list.length === 3 && list;
    }, 5000, "three messages");
    expect(got.map((m) => [m.id, m.text])).toEqual([
      [ids[0], "one"],
      [ids[1], "two"],
      [ids[2], "three"],
    ]);
  });

  test("the account issues its privacy token to a contact once, not with every message", async () => {
    // Baileys stored the token's issue time inside a transaction that had already ended, so it
    // was lost and every message issued the token again (fixed in patches/, see auth-utils.js).
    const phone = newNumber();
    const c = await linked(phone);
    const to = await contact();
    const issued = () => emu.state.issuedTokens.get(`${phone}>${to}@s.whatsapp.net`);
    const first = await c.sendText(to, "one");
    await c.waitFor(statusOf(c, first.key.id!, Status.DELIVERY_ACK), 5000, "the first delivery receipt");
    await c.waitFor(issued, 5000, "the token issued");
    // Kept in the device's own store (under the contact's LID) once the server answered the issue.
    const lid = await c.sock.signalRepository.lidMapping.getLIDForPN(`${to}@s.whatsapp.net`);
    expect(lid).toEndWith("@lid");
    await c.waitFor(async () => (await c.sock.authState.keys.get("tctoken", [lid!]))[lid!]?.senderTimestamp, 5000, "the issue time stored");
    for (const text of ["two", "three"]) {
      const sent = await c.sendText(to, text);
      await c.waitFor(statusOf(c, sent.key.id!, Status.DELIVERY_ACK), 5000, "a delivery receipt");
    }
    await Bun.sleep(200); // an issue would follow the send at once
    expect(issued()).toEqual({ t: expect.any(Number), times: 1 });
  });

  test("to a number not on WhatsApp: Baileys finds no device, the server refuses the stanza with 479, the message ends as ERROR", async () => {
    const c = await linked(newNumber());
    const nobody = newNumber();
    const sent = await c.sendText(nobody, "anyone there?");
    const failed = await c.waitFor(statusOf(c, sent.key.id!, Status.ERROR), 5000, "the refusal");
    expect(failed.key.remoteJid).toBe(`${nobody}@s.whatsapp.net`);
    expect(failed.update.messageStubParameters).toEqual(["479"]);
    expect(c.updates.some((u) => u.key.id === sent.key.id && u.update.status === Status.DELIVERY_ACK)).toBe(false);
    expect((await control("GET", `/control/phones/${nobody}/received`)).status).toBe(404);
  });
});

describe("a contact sends", () => {
  test("the device decrypts it from the contact's JID: pkmsg first, msg after", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const types = encTypes(c);
    const from = await contact();
    const first = await control("POST", "/control/messages", { from, to: phone, text: "Hi, it's your contact" });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ id: expect.any(String) });
    const m1 = await c.waitFor(upserted(c, first.body.id), 5000, "the first message");
    expect(m1.key).toMatchObject({ remoteJid: `${from}@s.whatsapp.net`, fromMe: false, id: first.body.id });
    expect(m1.message?.conversation).toBe("Hi, it's your contact");
    expect(m1.messageStubType ?? 0).toBe(0);

    const second = await control("POST", "/control/messages", { from, to: phone, text: "and again" });
    const m2 = await c.waitFor(upserted(c, second.body.id), 5000, "the second message");
    expect(m2.message?.conversation).toBe("and again");
    expect([types.get(first.body.id), types.get(second.body.id)]).toEqual(["pkmsg", "msg"]);
  });

  test("a conversation both ways, started by the contact", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const other = await contact();
    const ask = await control("POST", "/control/messages", { from: other, to: phone, text: "ping?" });
    await c.waitFor(upserted(c, ask.body.id), 5000, "the question");
    const reply = await c.sendText(other, "pong!");
    await c.waitFor(async () => (await received(other)).find((m) => m.id === reply.key.id && m.text === "pong!"), 5000, "the reply");
    const again = await control("POST", "/control/messages", { from: other, to: phone, text: "thanks" });
    const m = await c.waitFor(upserted(c, again.body.id), 5000, "the thanks");
    expect(m.message?.conversation).toBe("thanks");
  });

  test("a device that lost its session asks for a retry and gets the message over a new one", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const types = encTypes(c);
    const from = await contact();
    const first = await control("POST", "/control/messages", { from, to: phone, text: "first" });
    await c.waitFor(upserted(c, first.body.id), 5000, "the first message");
    const lid = await c.sock.signalRepository.lidMapping.getLIDForPN(`${from}@s.whatsapp.net`);
    expect(lid).toBeTruthy();
    await c.sock.signalRepository.deleteSession([lid!]);
    const second = await control("POST", "/control/messages", { from, to: phone, text: "after the loss" });
    const m = await c.waitFor(() => c.messages.find((x) => x.key.id === second.body.id && x.message?.conversation), 5000, "the resent message");
    expect(m.message?.conversation).toBe("after the loss");
    expect(types.get(second.body.id)).toBe("pkmsg"); // the resend starts a new session
  });

  test("every linked device of the account gets it", async () => {
    const phone = newNumber();
    const a = await linked(phone);
    const b = await linked(phone);
    expect(a.sock.user?.id).not.toBe(b.sock.user?.id);
    const from = await contact();
    const res = await control("POST", "/control/messages", { from, to: phone, text: "to all of you" });
    for (const c of [a, b]) {
      const m = await c.waitFor(upserted(c, res.body.id), 5000, "the message on each device");
      expect(m.message?.conversation).toBe("to all of you");
    }
  });

  test("a device that is away gets what was sent meanwhile when it reconnects, receipts too", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const to = await contact();
    const sent = await c.sendText(to, "before I go");
    await c.waitFor(statusOf(c, sent.key.id!, Status.DELIVERY_ACK), 5000, "delivered");
    c.end();
    await c.waitFor(async () => {
      const devices = (await control("GET", "/control/devices")).body.devices as { jid: string; connected: boolean }[];
      return devices.some((d) => d.jid === c.sock.user?.id && !d.connected);
    }, 5000, "the device to be offline");
    const one = await control("POST", "/control/messages", { from: to, to: phone, text: "while you were away" });
    const two = await control("POST", "/control/messages", { from: to, to: phone, text: "and this too" });
    expect((await control("POST", "/control/read", { by: to, to: phone, ids: [sent.key.id] })).status).toBe(200);

    const back = await connectClient(emu.wsUrl, { dir: c.dir });
    clients.push(back);
    await back.waitFor(() => back.opened, 5000, "reconnect");
    const m1 = await back.waitFor(upserted(back, one.body.id), 5000, "the first queued message");
    const m2 = await back.waitFor(upserted(back, two.body.id), 5000, "the second queued message");
    expect([m1.message?.conversation, m2.message?.conversation]).toEqual(["while you were away", "and this too"]);
    expect(back.messages.indexOf(m1)).toBeLessThan(back.messages.indexOf(m2));
    await back.waitFor(statusOf(back, sent.key.id!, Status.READ), 5000, "the queued read receipt");
  });
});

describe("control input", () => {
  test("unknown contacts and phones answer 404, bad input 400", async () => {
    const phone = newNumber();
    await linked(phone);
    const from = await contact();
    const stranger = newNumber();
    const post = (path: string, body: unknown) => control("POST", path, body);
    expect(await post("/control/messages", { from: stranger, to: phone, text: "x" })).toMatchObject({ status: 404, body: { code: "NOT_ON_WHATSAPP" } });
    expect(await post("/control/messages", { from, to: stranger, text: "x" })).toMatchObject({ status: 404, body: { code: "UNKNOWN_PHONE" } });
    expect((await post("/control/messages", { from, to: phone, text: "" })).status).toBe(400);
    expect((await post("/control/messages", { from: "abc", to: phone, text: "x" })).status).toBe(400);
    expect(await post("/control/read", { by: stranger, to: phone, ids: ["X"] })).toMatchObject({ status: 404, body: { code: "NOT_ON_WHATSAPP" } });
    expect((await post("/control/read", { by: from, to: phone, ids: [] })).status).toBe(400);
    expect(await control("GET", `/control/phones/${stranger}/received`)).toMatchObject({ status: 404, body: { code: "NOT_ON_WHATSAPP" } });
    expect(await received(from)).toEqual([]);
  });
});
