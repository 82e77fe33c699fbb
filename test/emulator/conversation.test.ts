// The rest of a conversation against a real Baileys client, both ways: reactions, edits, revokes,
// locations, contact cards, polls and their encrypted votes, presence and chat states, in a 1:1
// chat and in a LID group; and the server clock a test can shift.
import { describe, expect, test } from "bun:test";
import { decryptPollVote, proto, WAMessageStubType, type BinaryNode, type WAMessage } from "@whiskeysockets/baileys";
import { createHash } from "node:crypto";
import { emulatorSuite } from "./suite";
import { encryptPollVote } from "./poll-crypto";
import type { TestClient } from "./test-client";

const suite = emulatorSuite("4916");
const { newNumber, control, linked, contacts, received } = suite;
const pn = (n: string) => `${n}@s.whatsapp.net`;
const lid = (n: string) => `${suite.emu.state.lid(n)}@lid`;
const sha256 = (s: string) => createHash("sha256").update(s).digest();




/** Waits until the contact has an entry matching `probe`. */
const receivedBy = (c: TestClient, number: string, probe: (m: Record<string, any>) => boolean, what: string) =>
  c.waitFor(async () => (await received(number)).find(probe), 5000, what);

/** A contact's conversation message through the control API; its answer's body. */
async function say(from: string, to: string, body: Record<string, unknown>) {
  const res = await control("POST", "/control/messages", { from, to, ...body });
  expect(res.status).toBe(200);
  return res.body as { id: string };
}

async function sayInGroup(group: string, from: string, body: Record<string, unknown>) {
  const res = await control("POST", `/control/groups/${group}/messages`, { from, ...body });
  expect(res.status).toBe(200);
  return res.body as { id: string };
}

const upserted = (c: TestClient, id: string, probe: (m: WAMessage) => unknown = () => true) => () => c.messages.find((m) => m.key.id === id && probe(m));

/** The attributes of each message stanza the client's socket receives, by id. */
function stanzas(c: TestClient): Map<string, { attrs: Record<string, string>; enc: Record<string, string>[] }> {
  const seen = new Map<string, { attrs: Record<string, string>; enc: Record<string, string>[] }>();
  c.sock.ws.on("CB:message", (n: BinaryNode) => {
    const enc = Array.isArray(n.content) ? n.content.filter((x) => x.tag === "enc").map((x) => x.attrs) : [];
    seen.set(n.attrs.id!, { attrs: n.attrs, enc });
  });
  return seen;
}



describe("reactions, edits and revokes in a 1:1 chat", () => {
  test("the device reacts, edits and deletes; the contact reads each under its target", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const [to] = await contacts(1);
    const hello = await say(to!, phone, { text: "hello" });
    const theirs = await c.waitFor(upserted(c, hello.id), 5000, "the contact's text");

    const mine = await c.sendText(to!, "typo here");
    // Baileys' event buffer may fold the revoke's update (which carries the revoke's own key) into
    // this message's upsert, object and all, so `mine.key` can change under us: keep the id.
    const mineId = mine.key.id!;
    await receivedBy(c, to!, (m) => m.id === mineId, "the text");
    const react = await c.sock.sendMessage(pn(to!), { react: { text: "👍", key: { ...theirs.key } } });
    const unreact = await c.sock.sendMessage(pn(to!), { react: { text: "", key: { ...theirs.key } } });
    const edit = await c.sock.sendMessage(pn(to!), { text: "no typo here", edit: { ...mine.key } });
    const revoke = await c.sock.sendMessage(pn(to!), { delete: { ...mine.key } });

    await receivedBy(c, to!, (m) => m.id === revoke!.key.id, "the revoke");
    const got = (await received(to!)).filter((m) => m.type);
    expect(got).toEqual([
      { id: react!.key.id, from: phone, type: "reaction", targetId: hello.id, emoji: "👍", timestamp: expect.any(Number) },
      { id: unreact!.key.id, from: phone, type: "reaction", targetId: hello.id, emoji: "", timestamp: expect.any(Number) },
      { id: edit!.key.id, from: phone, type: "edit", targetId: mineId, text: "no typo here", timestamp: expect.any(Number) },
      { id: revoke!.key.id, from: phone, type: "revoke", targetId: mineId, timestamp: expect.any(Number) },
    ]);
  });

  test("the contact reacts (messages.reaction, key from the device's side), edits and deletes (messages.update)", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const seen = stanzas(c);
    const [from] = await contacts(1);
    const mine = await c.sendText(from!, "how are you?");
    await receivedBy(c, from!, (m) => m.id === mine.key.id, "the device's text");
    const theirs = await say(from!, phone, { text: "fine, thx" });
    await c.waitFor(upserted(c, theirs.id), 5000, "the contact's text");

    // On the device's message: the contact's key says fromMe false, the device sees its own message (fromMe true).
    const r1 = await say(from!, phone, { type: "reaction", targetId: mine.key.id, emoji: "❤️" });
    const onMine = await c.waitFor(() => c.reactions.find((r) => r.reaction.key?.id === r1.id), 5000, "messages.reaction");
    expect(onMine.key).toMatchObject({ remoteJid: pn(from!), fromMe: true, id: mine.key.id });
    expect(onMine.reaction).toMatchObject({ text: "❤️", key: { remoteJid: pn(from!), fromMe: false, id: r1.id } });
    const r2 = await say(from!, phone, { type: "reaction", targetId: theirs.id, emoji: "😂" });
    const onTheirs = await c.waitFor(() => c.reactions.find((r) => r.reaction.key?.id === r2.id), 5000, "the reaction to its own message");
    expect(onTheirs.key).toMatchObject({ remoteJid: pn(from!), fromMe: false, id: theirs.id });
    const r3 = await say(from!, phone, { type: "reaction", targetId: mine.key.id, emoji: "" });
    const removed = await c.waitFor(() => c.reactions.find((r) => r.reaction.key?.id === r3.id), 5000, "the removal");
    expect(removed.reaction.text).toBe("");

    const edit = await say(from!, phone, { type: "edit", targetId: theirs.id, text: "fine, thanks!" });
    const edited = await c.waitFor(() => c.updates.find((u) => u.key.id === theirs.id && u.update.message?.editedMessage), 5000, "the edit");
    expect(edited.key).toMatchObject({ remoteJid: pn(from!), fromMe: false });
    expect(edited.update.message?.editedMessage?.message?.conversation).toBe("fine, thanks!");
    const revoke = await say(from!, phone, { type: "revoke", targetId: theirs.id });
    const revoked = await c.waitFor(() => c.updates.find((u) => u.key.id === theirs.id && u.update.messageStubType === WAMessageStubType.REVOKE), 5000, "the revoke");
    expect(revoked.update.message).toBeNull();

    // As WhatsApp marks them: reactions are type reaction (a removal edit=7), edits edit=1, revokes edit=7; all hidden if undecryptable.
    const attrs = (id: string) => ({ type: seen.get(id)?.attrs.type, edit: seen.get(id)?.attrs.edit, hide: seen.get(id)?.enc[0]?.["decrypt-fail"] });
    expect([r1.id, r3.id, edit.id, revoke.id].map(attrs)).toEqual([
      { type: "reaction", edit: undefined, hide: "hide" },
      { type: "reaction", edit: "7", hide: "hide" },
      { type: "text", edit: "1", hide: "hide" },
      { type: "text", edit: "7", hide: "hide" },
    ]);

    // A reaction right after the device's send waits for the contact to have the message (no 404 race).
    const quick = await c.sendText(from!, "quick");
    const r4 = await say(from!, phone, { type: "reaction", targetId: quick.key.id, emoji: "⚡" });
    await c.waitFor(() => c.reactions.find((r) => r.reaction.key?.id === r4.id && r.key.id === quick.key.id), 5000, "the quick reaction");

    // Only the author edits or deletes for everyone; targets are ids of this chat.
    expect(await control("POST", "/control/messages", { from, to: phone, type: "edit", targetId: mine.key.id, text: "x" })).toMatchObject({ status: 403, body: { code: "NOT_MESSAGE_AUTHOR" } });
    expect(await control("POST", "/control/messages", { from, to: phone, type: "revoke", targetId: mine.key.id })).toMatchObject({ status: 403, body: { code: "NOT_MESSAGE_AUTHOR" } });
    expect(await control("POST", "/control/messages", { from, to: phone, type: "reaction", targetId: "NOPE", emoji: "👍" })).toMatchObject({ status: 404, body: { code: "UNKNOWN_MESSAGE" } });
    expect(await control("POST", "/control/messages", { from, to: phone, type: "reaction", targetId: mine.key.id })).toMatchObject({ status: 400, body: { code: "INVALID_EMOJI" } });
  });
});

describe("locations and contact cards in a 1:1 chat", () => {
  test("both ways: locationMessage, one vCard as contactMessage, several as contactsArrayMessage", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const [to, friend, other] = await contacts(3);

    const loc = await c.sock.sendMessage(pn(to!), { location: { degreesLatitude: 52.52, degreesLongitude: 13.405, name: "Brandenburger Tor", address: "Pariser Platz, Berlin" } });
    const card = (name: string, n: string) => ({ displayName: name, vcard: `BEGIN:VCARD\nVERSION:3.0\nFN:${name}\nTEL;type=CELL;type=VOICE;waid=${n}:+${n}\nEND:VCARD` });
    const one = await c.sock.sendMessage(pn(to!), { contacts: { contacts: [card("Ana Friend", friend!)] } });
    const two = await c.sock.sendMessage(pn(to!), { contacts: { displayName: "2 contacts", contacts: [card("Ana Friend", friend!), card("Bo Other", other!)] } });
    await receivedBy(c, to!, (m) => m.id === two!.key.id, "the contact cards");
    expect((await received(to!)).filter((m) => m.type)).toEqual([
      { id: loc!.key.id, from: phone, type: "location", location: { latitude: 52.52, longitude: 13.405, name: "Brandenburger Tor", address: "Pariser Platz, Berlin" }, timestamp: expect.any(Number) },
      { id: one!.key.id, from: phone, type: "contact", contacts: [{ name: "Ana Friend", phoneNumber: friend }], timestamp: expect.any(Number) },
      { id: two!.key.id, from: phone, type: "contact", contacts: [{ name: "Ana Friend", phoneNumber: friend }, { name: "Bo Other", phoneNumber: other }], timestamp: expect.any(Number) },
    ]);

    const l = await say(to!, phone, { type: "location", location: { latitude: -33.8568, longitude: 151.2153, name: "Opera House" } });
    const lm = await c.waitFor(upserted(c, l.id), 5000, "the location");
    expect(lm.message?.locationMessage).toMatchObject({ degreesLatitude: -33.8568, degreesLongitude: 151.2153, name: "Opera House" });
    const s1 = await say(to!, phone, { type: "contact", contacts: [{ name: "Ana Friend", phoneNumber: `+${friend}` }] });
    const m1 = await c.waitFor(upserted(c, s1.id), 5000, "the contact card");
    expect(m1.message?.contactMessage?.displayName).toBe("Ana Friend");
    expect(m1.message?.contactMessage?.vcard).toMatch(new RegExp(`^BEGIN:VCARD\\n[^]*FN:Ana Friend\\n[^]*TEL;type=CELL;waid=${friend}:\\+${friend}\\nEND:VCARD$`));
    const s2 = await say(to!, phone, { type: "contact", contacts: [{ name: "Ana Friend", phoneNumber: friend }, { name: "Bo; Other", phoneNumber: other }] });
    const m2 = await c.waitFor(upserted(c, s2.id), 5000, "the contact cards");
    expect(m2.message?.contactsArrayMessage?.contacts?.map((x) => x.displayName)).toEqual(["Ana Friend", "Bo; Other"]);
    expect(m2.message?.contactsArrayMessage?.contacts?.[1]?.vcard).toContain("FN:Bo\\; Other\n");

    expect(await control("POST", "/control/messages", { from: to, to: phone, type: "location", location: { latitude: 91, longitude: 0 } })).toMatchObject({ status: 400, body: { code: "INVALID_LOCATION" } });
    expect(await control("POST", "/control/messages", { from: to, to: phone, type: "contact", contacts: [] })).toMatchObject({ status: 400, body: { code: "INVALID_CONTACTS" } });
  });
});

describe("polls in a 1:1 chat", () => {
  test("the device's poll reaches the contact, whose vote the device opens with the poll's secret", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const [to] = await contacts(1);
    const poll = await c.sock.sendMessage(pn(to!), { poll: { name: "Lunch?", values: ["Pizza", "Sushi", "Salad"], selectableCount: 1 } });
    const secret = poll!.message!.messageContextInfo!.messageSecret!;
    const got = await receivedBy(c, to!, (m) => m.id === poll!.key.id, "the poll");
    expect(got).toEqual({ id: poll!.key.id, from: phone, type: "poll", poll: { question: "Lunch?", options: ["Pizza", "Sushi", "Salad"], multiple: false }, timestamp: expect.any(Number) });

    const vote = await say(to!, phone, { type: "poll_vote", targetId: poll!.key.id, options: ["Sushi"] });
    const m = await c.waitFor(upserted(c, vote.id), 5000, "the vote");
    const update = m.message!.pollUpdateMessage!;
    expect(update.pollCreationMessageKey).toMatchObject({ id: poll!.key.id, fromMe: true, remoteJid: pn(to!) });
    // 1:1 chats here are addressed by phone number: creator and voter are PN JIDs (Baileys' getKeyAuthor gives the same).
    const opened = decryptPollVote(update.vote!, { pollCreatorJid: pn(phone), pollMsgId: poll!.key.id!, pollEncKey: secret, voterJid: pn(to!) });
    expect(opened.selectedOptions?.map((o) => Buffer.from(o).toString("hex"))).toEqual([sha256("Sushi").toString("hex")]);

    const multi = await c.sock.sendMessage(pn(to!), { poll: { name: "Which days?", values: ["Mon", "Tue", "Wed"], selectableCount: 0 } });
    await receivedBy(c, to!, (x) => x.id === multi!.key.id && x.poll?.multiple === true, "the multiple-choice poll");
    const v2 = await say(to!, phone, { type: "poll_vote", targetId: multi!.key.id, options: ["Mon", "Wed"] });
    const m2 = await c.waitFor(upserted(c, v2.id), 5000, "the second vote");
    const secret2 = multi!.message!.messageContextInfo!.messageSecret!;
    const opened2 = decryptPollVote(m2.message!.pollUpdateMessage!.vote!, { pollCreatorJid: pn(phone), pollMsgId: multi!.key.id!, pollEncKey: secret2, voterJid: pn(to!) });
    expect(opened2.selectedOptions?.map((o) => Buffer.from(o).toString("hex"))).toEqual([sha256("Mon"), sha256("Wed")].map((h) => h.toString("hex")));

    expect(await control("POST", "/control/messages", { from: to, to: phone, type: "poll_vote", targetId: poll!.key.id, options: ["Pizza", "Sushi"] })).toMatchObject({ status: 400, body: { code: "INVALID_OPTIONS" } });
    expect(await control("POST", "/control/messages", { from: to, to: phone, type: "poll_vote", targetId: poll!.key.id, options: ["Pasta"] })).toMatchObject({ status: 400, body: { code: "INVALID_OPTIONS" } });
    const text = await c.sendText(to!, "not a poll");
    await receivedBy(c, to!, (x) => x.id === text.key.id, "the text");
    expect(await control("POST", "/control/messages", { from: to, to: phone, type: "poll_vote", targetId: text.key.id, options: [] })).toMatchObject({ status: 400, body: { code: "NOT_A_POLL" } });
  });

  test("the contact's poll reaches the device with its secret; the contact opens the device's vote", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const [from] = await contacts(1);
    const poll = await say(from!, phone, { type: "poll", poll: { question: "Movie?", options: ["Alien", "Heat"] } });
    const m = await c.waitFor(upserted(c, poll.id), 5000, "the poll");
    expect(m.message?.pollCreationMessageV3).toMatchObject({ name: "Movie?", selectableOptionsCount: 1, options: [{ optionName: "Alien" }, { optionName: "Heat" }] });
    const secret = m.message!.messageContextInfo!.messageSecret!;
    expect(secret).toHaveLength(32);

    // Baileys sends no votes itself: the device relays a pollUpdateMessage it encrypted under the poll's secret.
    const vote = encryptPollVote(["Heat"], secret, { pollId: poll.id, creatorJid: pn(from!), voterJid: pn(phone) });
    const id = await c.sock.relayMessage(pn(from!), { pollUpdateMessage: { pollCreationMessageKey: { remoteJid: pn(from!), fromMe: false, id: poll.id }, vote, senderTimestampMs: Date.now() } }, {});
    const got = await receivedBy(c, from!, (x) => x.id === id, "the device's vote");
    expect(got).toEqual({ id, from: phone, type: "poll_vote", targetId: poll.id, options: ["Heat"], timestamp: expect.any(Number) });
  });
});

describe("presence and chat states in a 1:1 chat", () => {
  test("the contact types and records (presence.update); its availability reaches only subscribed devices", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const other = await linked(phone); // same account, never subscribes
    const [from] = await contacts(1);
    const jid = pn(from!);
    const states = (cl: TestClient) => cl.presences.filter((p) => p.id === jid).map((p) => p.presences[jid]);

    for (const state of ["composing", "recording", "paused"]) {
      expect((await control("POST", "/control/messages", { from, to: phone, type: "presence", state })).body).toEqual({ success: true });
    }
    await c.waitFor(() => states(c).length === 3, 5000, "three chat states");
    // Baileys reads paused as available (the contact stopped typing).
    expect(states(c)).toEqual([{ lastKnownPresence: "composing" }, { lastKnownPresence: "recording" }, { lastKnownPresence: "available" }]);
    await other.waitFor(() => states(other).length === 3, 5000, "the chat states on the other device");

    await say(from!, phone, { type: "presence", state: "available" });
    await c.sock.presenceSubscribe(jid);
    // The server answers a subscription with the current state.
    await c.waitFor(() => states(c).length === 4, 5000, "the current presence");
    expect(states(c)[3]).toEqual({ lastKnownPresence: "available" });
    const before = Math.floor(Date.now() / 1000);
    await say(from!, phone, { type: "presence", state: "unavailable" });
    await c.waitFor(() => states(c).length === 5, 5000, "unavailable");
    expect(states(c)[4]).toEqual({ lastKnownPresence: "unavailable", lastSeen: expect.any(Number) });
    expect(states(c)[4]!.lastSeen).toBeGreaterThanOrEqual(before);
    await Bun.sleep(100);
    expect(states(other)).toHaveLength(3); // no subscription, no presence
    expect(await control("POST", "/control/messages", { from, to: phone, type: "presence", state: "asleep" })).toMatchObject({ status: 400, body: { code: "INVALID_STATE" } });
  });

  test("the device's chat states reach the contact; its availability reaches its subscribers and the control API", async () => {
    const [phone, watcher] = [newNumber(), newNumber()];
    const c = await linked(phone);
    const w = await linked(watcher);
    const [to] = await contacts(1);
    await c.sock.sendPresenceUpdate("composing", pn(to!));
    await c.sock.sendPresenceUpdate("recording", pn(to!));
    await c.sock.sendPresenceUpdate("paused", pn(to!));
    await receivedBy(c, to!, (m) => m.type === "presence" && m.state === "paused", "the chat states");
    expect(await received(to!)).toEqual(["composing", "recording", "paused"].map((state) => ({ type: "presence", from: phone, state, timestamp: expect.any(Number) })));

    await w.sock.presenceSubscribe(pn(phone));
    await w.waitFor(() => w.presences.find((p) => p.id === pn(phone)), 5000, "the current presence");
    // Baileys sends availability only once it knows its push name (WhatsApp's app state; none here).
    c.sock.ev.emit("creds.update", { me: { ...c.sock.authState.creds.me!, name: "Tester" } });
    await c.sock.sendPresenceUpdate("available");
    await w.waitFor(() => w.presences.find((p) => p.presences[pn(phone)]?.lastKnownPresence === "available"), 5000, "available at the watcher");
    await c.sock.sendPresenceUpdate("unavailable");
    await w.waitFor(() => w.presences.find((p) => p.presences[pn(phone)]?.lastKnownPresence === "unavailable" && p.presences[pn(phone)]?.lastSeen), 5000, "unavailable at the watcher");
    const p = (await control("GET", `/control/phones/${phone}/presence`)).body;
    expect(p).toMatchObject({ state: "unavailable", lastSeen: expect.any(Number), subscribers: [w.sock.user!.id] });
    expect(p.updates.slice(-2)).toEqual([
      { type: "presence", from: phone, state: "available", timestamp: expect.any(Number) },
      { type: "presence", from: phone, state: "unavailable", timestamp: expect.any(Number) },
    ]);
  });
});

describe("the server clock", () => {
  test("an offset shifts the ack's t, the received timestamp and incoming messages' t", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const [to] = await contacts(1);
    const acks = new Map<string, number>();
    c.sock.ws.on("CB:ack,class:message", (n: BinaryNode) => acks.set(n.attrs.id!, Number(n.attrs.t)));
    try {
      expect((await control("POST", "/control/clock", { offsetSeconds: -1200 })).body).toMatchObject({ success: true, offsetSeconds: -1200 });
      const now = Math.floor(Date.now() / 1000);
      const sent = await c.sendText(to!, "twenty minutes ago");
      const t = await c.waitFor(() => acks.get(sent.key.id!), 5000, "the ack");
      expect(Math.abs(t - (now - 1200))).toBeLessThanOrEqual(2);
      const got = await receivedBy(c, to!, (m) => m.id === sent.key.id, "the text");
      expect(got.timestamp).toBe(t);
      const back = await say(to!, phone, { text: "old news" });
      const m = await c.waitFor(upserted(c, back.id), 5000, "the contact's text");
      expect(Math.abs(Number(m.messageTimestamp) - (now - 1200))).toBeLessThanOrEqual(2);
    } finally {
      await control("POST", "/control/clock", { offsetSeconds: 0 });
    }
    const later = await c.sendText(to!, "now");
    const t = await c.waitFor(() => acks.get(later.key.id!), 5000, "the ack");
    expect(Math.abs(t - Math.floor(Date.now() / 1000))).toBeLessThanOrEqual(2);
    expect((await control("POST", "/control/clock", { offsetSeconds: "soon" })).status).toBe(400);
  });
});

describe("in a group", () => {
  test("reactions both ways; an admin deletes a member's message (edit=8); the device deletes its own", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const seen = stanzas(c);
    const [owner, b] = await contacts(2);
    const group = (await control("POST", "/control/groups", { creator: owner, subject: "Reacts", participants: [phone, b] })).body.id as string;
    await c.waitFor(() => c.groups.upserts.find((g) => g.id === group), 5000, "groups.upsert");

    const hi = await sayInGroup(group, b!, { text: "hi all" });
    const theirs = await c.waitFor(upserted(c, hi.id), 5000, "b's text");
    const react = await c.sock.sendMessage(group, { react: { text: "🎉", key: theirs.key } });
    for (const n of [owner!, b!]) {
      const got = await receivedBy(c, n, (m) => m.id === react!.key.id, `member ${n} to get the reaction`);
      expect(got).toEqual({ id: react!.key.id, from: phone, groupId: group, type: "reaction", targetId: hi.id, emoji: "🎉", timestamp: expect.any(Number) });
    }

    const mine = await c.sendText(group, "thanks");
    await receivedBy(c, b!, (m) => m.id === mine.key.id, "the device's text");
    const r = await sayInGroup(group, b!, { type: "reaction", targetId: mine.key.id, emoji: "👍" });
    const onMine = await c.waitFor(() => c.reactions.find((x) => x.reaction.key?.id === r.id), 5000, "messages.reaction");
    // b's key names the device's account by LID as participant; Baileys finds it is its own message.
    expect(onMine.key).toMatchObject({ remoteJid: group, fromMe: true, id: mine.key.id, participant: lid(phone) });
    expect(onMine.reaction).toMatchObject({ text: "👍", key: { remoteJid: group, participant: lid(b!) } });

    expect(await control("POST", `/control/groups/${group}/messages`, { from: b, type: "revoke", targetId: mine.key.id })).toMatchObject({ status: 403, body: { code: "NOT_GROUP_ADMIN" } });
    const del = await sayInGroup(group, owner!, { type: "revoke", targetId: hi.id });
    const revoked = await c.waitFor(() => c.updates.find((u) => u.key.id === hi.id && u.update.messageStubType === WAMessageStubType.REVOKE), 5000, "the admin's revoke");
    expect(revoked.key).toMatchObject({ remoteJid: group, participant: lid(owner!) });
    expect(seen.get(del.id)?.attrs.edit).toBe("8");

    const mineId = mine.key.id!; // (see the 1:1 test: the revoke may rewrite `mine.key`)
    const gone = await c.sock.sendMessage(group, { delete: { ...mine.key } });
    const got = await receivedBy(c, b!, (m) => m.id === gone!.key.id, "the device's revoke");
    expect(got).toEqual({ id: gone!.key.id, from: phone, groupId: group, type: "revoke", targetId: mineId, timestamp: expect.any(Number) });

    // Someone else's message: Baileys sends an admin revoke (edit=8, the author as participant); members heed it from an admin only.
    const spam = await sayInGroup(group, b!, { text: "spam" });
    const spamKey = { ...(await c.waitFor(upserted(c, spam.id), 5000, "b's spam")).key };
    const early = await c.sock.sendMessage(group, { delete: { ...spamKey } });
    await control("POST", `/control/groups/${group}/participants`, { by: owner, action: "promote", participants: [phone] });
    const late = await c.sock.sendMessage(group, { delete: { ...spamKey } });
    const deleted = await receivedBy(c, owner!, (m) => m.id === late!.key.id, "the admin revoke");
    expect(deleted).toMatchObject({ from: phone, groupId: group, type: "revoke", targetId: spam.id });
    expect((await received(owner!)).some((m) => m.id === early!.key.id)).toBe(false);
  });

  test("the device's poll reaches every member; a member's vote opens with LID JIDs; chat states carry the member's LID", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const [owner, b] = await contacts(2);
    const group = (await control("POST", "/control/groups", { creator: owner, subject: "Votes", participants: [phone, b] })).body.id as string;
    await c.waitFor(() => c.groups.upserts.find((g) => g.id === group), 5000, "groups.upsert");

    const poll = await c.sock.sendMessage(group, { poll: { name: "When?", values: ["Fri", "Sat"], selectableCount: 1 } });
    for (const n of [owner!, b!]) {
      const got = await receivedBy(c, n, (m) => m.id === poll!.key.id, `member ${n} to get the poll`);
      expect(got).toEqual({ id: poll!.key.id, from: phone, groupId: group, type: "poll", poll: { question: "When?", options: ["Fri", "Sat"], multiple: false }, timestamp: expect.any(Number) });
    }
    const vote = await sayInGroup(group, b!, { type: "poll_vote", targetId: poll!.key.id, options: ["Sat"] });
    const m = await c.waitFor(upserted(c, vote.id), 5000, "the vote");
    expect(m.key).toMatchObject({ remoteJid: group, participant: lid(b!), participantAlt: pn(b!) });
    const update = m.message!.pollUpdateMessage!;
    expect(update.pollCreationMessageKey).toMatchObject({ id: poll!.key.id, fromMe: true });
    const secret = poll!.message!.messageContextInfo!.messageSecret!;
    // A LID group's vote is keyed to LIDs, as WhatsApp does it; PN JIDs (Baileys' getKeyAuthor prefers participantAlt) do not open it.
    const opened = decryptPollVote(update.vote!, { pollCreatorJid: lid(phone), pollMsgId: poll!.key.id!, pollEncKey: secret, voterJid: lid(b!) });
    expect(opened.selectedOptions?.map((o) => Buffer.from(o).toString("hex"))).toEqual([sha256("Sat").toString("hex")]);
    expect(() => decryptPollVote(update.vote!, { pollCreatorJid: pn(phone), pollMsgId: poll!.key.id!, pollEncKey: secret, voterJid: pn(b!) })).toThrow();

    await sayInGroup(group, b!, { type: "presence", state: "composing" });
    const typing = await c.waitFor(() => c.presences.find((p) => p.id === group), 5000, "the member's chat state");
    expect(typing.presences).toEqual({ [lid(b!)]: { lastKnownPresence: "composing" } });
    await c.sock.sendPresenceUpdate("composing", group);
    const got = await receivedBy(c, owner!, (x) => x.type === "presence", "the device's chat state");
    expect(got).toEqual({ type: "presence", from: phone, groupId: group, state: "composing", timestamp: expect.any(Number) });
  });
});
