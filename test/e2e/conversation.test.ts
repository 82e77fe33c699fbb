// The rest of a conversation end to end: reactions, edits, deletes for everyone, locations,
// contact cards, polls and presence, each both ways through the sandbox, rootless Podman and the
// emulator (whose contacts decrypt what the session sends and send as a phone does), in a direct
// chat and in a group. Webhooks go to a real receiver.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import type { RunningEmulator } from "../emulator";
import { startTestApi, type TestApi } from "../support/api";
import { emulatorControl, startEmulatorForContainers } from "../support/emulator";
import { waitFor } from "../support/env";
import { WebhookReceiver } from "../support/webhook-receiver";

const PHONE = "4915112390001";
const [C1, C2, C3] = ["4915112390011", "4915112390012", "4915112390013"];
const C1_JID = `${C1}@s.whatsapp.net`;

type Received = { id: string; from: string; type?: string; text?: string; targetId?: string; emoji?: string; groupId?: string; location?: unknown; contacts?: unknown; poll?: unknown; state?: string };

describe("the rest of a conversation", () => {
  let emu: RunningEmulator;
  let control: ReturnType<typeof emulatorControl>;
  let t: TestApi;
  const receiver = new WebhookReceiver();
  const s = { id: "", key: "" };
  let group = "";

  const call = (method: string, path: string, body?: unknown) => t.call(method, `/sessions/${s.id}${path}`, { key: s.key, body });
  const message = async (mid: string) => (await call("GET", `/messages/${mid}`)).body.message;
  const send = async (body: unknown) => {
    const res = await call("POST", "/messages", body);
    expect(res.status).toBe(201);
    return res.body.message as { id: string; [k: string]: unknown };
  };
  const received = async (phone: string) => (await control("GET", `/control/phones/${phone}/received`)).body.messages as Received[];
  const got = (phone: string, match: (m: Received) => boolean, what: string) => waitFor(async () => (await received(phone)).find(match), 15_000, what);
  const hooks = (event: string) => receiver.of(s.id).filter((r) => r.json.event === event).map((r) => r.json.data);
  const fromContact = async (body: Record<string, unknown>) => {
    const res = await control("POST", "/control/messages", { from: C1, to: PHONE, ...body });
    expect(res.status).toBe(200);
    return res.body.id as string;
  };

  beforeAll(async () => {
    receiver.start();
    emu = await startEmulatorForContainers();
    control = emulatorControl(emu);
    expect((await control("POST", "/control/numbers", { add: [C1, C2, C3] })).status).toBe(200);
    t = await startTestApi(
      "postgres",
      { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, WA_MEDIA_SOCKET: emu.mediaSocketPath!, WA_MEDIA_CA: emu.mediaCa, SANDBOX_REQUEST_TIMEOUT_MS: "15000" },
      { process: true },
    );
    const created = await t.call("POST", "/sessions/create", { body: { name: "talker", webhookUrl: receiver.url } });
    Object.assign(s, { id: created.body.session.id, key: created.body.apiKey });
    await waitFor(async () => (await call("GET", "/status")).body.session.state === "qr_ready", 30_000, "qr_ready");
    expect((await control("POST", "/control/scan", { qr: (await call("GET", "/qr")).body.qr, phoneNumber: PHONE })).status).toBe(200);
    await waitFor(async () => (await call("GET", "/status")).body.session.state === "ready", 60_000, "ready");
    const g = await call("POST", "/groups", { subject: "Poll room", participants: [C1, C2, C3] });
    expect(g.status).toBe(201);
    group = g.body.group.id;
  });
  afterAll(async () => {
    await t?.close();
    await emu?.stop();
    receiver.stop();
  });

  test("reactions both ways: the contact sees ours, ours and theirs show on the message, one per sender, and a removal takes it away", async () => {
    const m = await send({ to: C1, text: "Your parcel left the warehouse" });
    expect((await call("POST", `/messages/${m.id}/reactions`, { emoji: "👍" })).body).toEqual({ success: true });
    expect(await got(C1, (r) => r.type === "reaction" && r.targetId === m.id, "our reaction")).toMatchObject({ emoji: "👍", from: PHONE });
    await fromContact({ type: "reaction", targetId: m.id, emoji: "❤️" });
    await waitFor(async () => (await message(m.id)).reactions?.length === 2, 10_000, "two reactions");
    const shown = (await message(m.id)).reactions;
    expect(shown.map((r: any) => [r.from, r.emoji]).sort()).toEqual([["me", "👍"], [C1, "❤️"]].sort());
    expect(await waitFor(() => hooks("message.reaction").find((d) => d.id === m.id), 10_000, "message.reaction")).toEqual({ id: m.id, chatId: C1_JID, from: C1, emoji: "❤️" });
    // The latest wins; "" removes.
    await fromContact({ type: "reaction", targetId: m.id, emoji: "😮" });
    await waitFor(async () => (await message(m.id)).reactions?.some((r: any) => r.from === C1 && r.emoji === "😮"), 10_000, "the changed reaction");
    await fromContact({ type: "reaction", targetId: m.id, emoji: "" });
    await waitFor(async () => !(await message(m.id)).reactions?.some((r: any) => r.from === C1), 10_000, "the removal");
    await waitFor(() => hooks("message.reaction").some((d) => d.id === m.id && d.emoji === ""), 10_000, "the removal's webhook");
    for (const emoji of ["ab", "👍👍", "x"]) {
      const bad = await call("POST", `/messages/${m.id}/reactions`, { emoji });
      expect([bad.status, bad.body.code, bad.body.field]).toEqual([400, "VALIDATION_ERROR", "emoji"]);
    }
  });

  test("edits: ours reach the contact and show editedAt; theirs arrive as message.edited; not ours, or older than 15 minutes, is 409", async () => {
    const m = await send({ to: C1, text: "Delivery on Tusday" });
    const edited = await call("PATCH", `/messages/${m.id}`, { text: "Delivery on Tuesday" });
    expect([edited.status, edited.body]).toEqual([200, { success: true }]);
    expect(await message(m.id)).toMatchObject({ id: m.id, text: "Delivery on Tuesday" });
    expect(Date.parse((await message(m.id)).editedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(await got(C1, (r) => r.type === "edit" && r.targetId === m.id, "our edit")).toMatchObject({ text: "Delivery on Tuesday" });

    const theirs = await fromContact({ text: "Thx, see you Tusday" });
    await waitFor(async () => (await message(theirs))?.text, 10_000, "their message");
    await fromContact({ type: "edit", targetId: theirs, text: "Thx, see you Tuesday" });
    await waitFor(async () => (await message(theirs)).text === "Thx, see you Tuesday", 10_000, "their edit");
    expect((await message(theirs)).editedAt).toBeString();
    expect(await waitFor(() => hooks("message.edited").find((d) => d.id === theirs), 10_000, "message.edited")).toMatchObject({ chatId: C1_JID, text: "Thx, see you Tuesday" });
    const notOurs = await call("PATCH", `/messages/${theirs}`, { text: "nope" });
    expect([notOurs.status, notOurs.body.code]).toEqual([409, "MESSAGE_NOT_EDITABLE"]);

    // WhatsApp's clock 20 minutes back: the server's ack dates the send then.
    expect((await control("POST", "/control/clock", { offsetSeconds: -20 * 60 })).status).toBe(200);
    const old = await send({ to: C1, text: "written long ago" });
    await control("POST", "/control/clock", { offsetSeconds: 0 });
    await waitFor(async () => (await message(old.id)).timestamp < Date.now() / 1000 - 15 * 60, 10_000, "the old timestamp");
    const late = await call("PATCH", `/messages/${old.id}`, { text: "too late" });
    expect([late.status, late.body.code]).toEqual([409, "MESSAGE_NOT_EDITABLE"]);
  });

  test("deletes for everyone: ours reach the contact and remove the stored file; theirs arrive as message.revoked", async () => {
    const bytes = await sharp({ create: { width: 40, height: 30, channels: 3, background: "#c33" } }).png().toBuffer();
    const m = await send({ to: C1, type: "image", caption: "wrong chat", media: { data: bytes.toString("base64") } });
    const sha = (m.media as { sha256: string }).sha256;
    const file = join(t.dataDir, "media", sha.slice(0, 2), sha);
    expect(existsSync(file)).toBe(true);
    expect((await call("DELETE", `/messages/${m.id}`)).body).toEqual({ success: true });
    expect(await got(C1, (r) => r.type === "revoke" && r.targetId === m.id, "our revoke")).toBeTruthy();
    const gone = await message(m.id);
    expect(gone).toMatchObject({ id: m.id, revoked: true, text: null });
    expect(gone.media).toBeUndefined();
    expect(existsSync(file)).toBe(false);
    expect((await call("GET", `/messages/${m.id}/media`)).status).toBe(404);

    const theirs = await fromContact({ text: "oops, not for you" });
    await waitFor(async () => (await message(theirs))?.text, 10_000, "their message");
    await fromContact({ type: "revoke", targetId: theirs });
    await waitFor(async () => (await message(theirs)).revoked === true, 10_000, "their revoke");
    expect((await message(theirs)).text).toBeNull();
    expect(await waitFor(() => hooks("message.revoked").find((d) => d.id === theirs), 10_000, "message.revoked")).toMatchObject({ chatId: C1_JID, by: C1 });
    const notOurs = await call("DELETE", `/messages/${theirs}`);
    expect(notOurs.status).toBe(200); // already revoked: nothing left to do
  });

  test("locations and contact cards both ways", async () => {
    const where = { latitude: 52.520008, longitude: 13.404954, name: "Alexanderplatz", address: "10178 Berlin" };
    const loc = await send({ to: C1, type: "location", location: where });
    expect(loc).toMatchObject({ type: "location", location: where });
    expect(await got(C1, (r) => r.id === loc.id, "our location")).toMatchObject({ type: "location", location: where });
    const card = await send({ to: C1, type: "contact", contacts: [{ name: "Support desk", phoneNumber: "+4915112399999" }] });
    expect(card).toMatchObject({ type: "contact", contacts: [{ name: "Support desk", phoneNumber: "4915112399999" }] });
    expect(await got(C1, (r) => r.id === card.id, "our card")).toMatchObject({ type: "contact", contacts: [{ name: "Support desk", phoneNumber: "4915112399999" }] });

    const theirLoc = await fromContact({ type: "location", location: { latitude: -33.8568, longitude: 151.2153, name: "Opera House" } });
    const theirCard = await fromContact({ type: "contact", contacts: [{ name: "Ana", phoneNumber: "4915112398888" }, { name: "Ben", phoneNumber: "4915112397777" }] });
    expect(await waitFor(() => message(theirLoc), 10_000, "their location")).toMatchObject({ type: "location", location: { latitude: -33.8568, longitude: 151.2153, name: "Opera House" } });
    expect(await waitFor(() => message(theirCard), 10_000, "their cards")).toMatchObject({
      type: "contact",
      contacts: [
        { name: "Ana", phoneNumber: "4915112398888" },
        { name: "Ben", phoneNumber: "4915112397777" },
      ],
    });
    const chat = (await call("GET", "/chats")).body.chats.find((c: any) => c.id === C1_JID);
    expect(chat.lastMessage).toMatchObject({ id: theirCard, type: "contact", fromMe: false, text: "Ana" });
  });

  test("a poll in a group: three members' votes tally, a changed vote moves, each a poll.vote; a member's reaction and an admin's delete work there too", async () => {
    const poll = await send({ to: group, type: "poll", poll: { question: "Team lunch?", options: ["Pizza", "Sushi", "Salad"] } });
    for (const member of [C1, C2, C3]) expect(await got(member, (r) => r.id === poll.id, `${member} to get the poll`)).toMatchObject({ type: "poll", groupId: group, poll: { question: "Team lunch?", options: ["Pizza", "Sushi", "Salad"] } });
    const vote = (from: string, options: string[]) => control("POST", `/control/groups/${group}/messages`, { from, type: "poll_vote", targetId: poll.id, options });
    await vote(C1, ["Pizza"]);
    await vote(C2, ["Sushi"]);
    await vote(C3, ["Pizza"]);
    const tally = async () => Object.fromEntries(((await message(poll.id)).poll.votes as { option: string; voters: string[] }[]).map((v) => [v.option, [...v.voters].sort()]));
    await waitFor(async () => JSON.stringify(await tally()) === JSON.stringify({ Pizza: [C1, C3].sort(), Sushi: [C2], Salad: [] }), 15_000, "three votes");
    await vote(C1, ["Salad"]);
    await waitFor(async () => JSON.stringify(await tally()) === JSON.stringify({ Pizza: [C3], Sushi: [C2], Salad: [C1] }), 15_000, "the changed vote");
    expect((await message(poll.id)).poll.votes.map((v: any) => v.option)).toEqual(["Pizza", "Sushi", "Salad"]);
    await waitFor(() => hooks("poll.vote").filter((d) => d.id === poll.id).length >= 4, 10_000, "four poll.vote");
    expect(hooks("poll.vote").filter((d) => d.id === poll.id).at(-1)).toEqual({ id: poll.id, chatId: group, voter: C1, options: ["Salad"] });

    const said = (await control("POST", `/control/groups/${group}/messages`, { from: C2, text: "I'll book it" })).body.id as string;
    await waitFor(async () => (await message(said))?.author === C2, 10_000, "the member's message");
    await control("POST", `/control/groups/${group}/messages`, { from: C3, type: "reaction", targetId: said, emoji: "🎉" });
    await waitFor(async () => (await message(said)).reactions?.some((r: any) => r.from === C3 && r.emoji === "🎉"), 10_000, "a member's reaction");
    // The account created the group: as its admin it deletes a member's message for everyone.
    expect((await call("DELETE", `/messages/${said}`)).body).toEqual({ success: true });
    expect(await got(C1, (r) => r.type === "revoke" && r.targetId === said, "the admin's revoke")).toMatchObject({ groupId: group });
    expect((await message(said)).revoked).toBe(true);
  });

  test("in a group too: our edit, reaction, location and contact card reach every member", async () => {
    const m = await send({ to: group, text: "Lunch at 12:30" });
    expect((await call("PATCH", `/messages/${m.id}`, { text: "Lunch at 13:00" })).status).toBe(200);
    expect((await call("POST", `/messages/${m.id}/reactions`, { emoji: "🍕" })).status).toBe(200);
    const loc = await send({ to: group, type: "location", location: { latitude: 48.137154, longitude: 11.576124, name: "Marienplatz" } });
    const card = await send({ to: group, type: "contact", vcard: "BEGIN:VCARD\nVERSION:3.0\nFN:Front desk\nTEL;type=CELL;waid=4915112396666:+49 151 12396666\nEND:VCARD" });
    expect(card.contacts).toEqual([{ name: "Front desk", phoneNumber: "4915112396666" }]);
    for (const member of [C1, C2, C3]) {
      expect(await got(member, (r) => r.type === "edit" && r.targetId === m.id, `${member}: the edit`)).toMatchObject({ groupId: group, text: "Lunch at 13:00" });
      expect(await got(member, (r) => r.type === "reaction" && r.targetId === m.id, `${member}: the reaction`)).toMatchObject({ groupId: group, emoji: "🍕" });
      expect(await got(member, (r) => r.id === loc.id, `${member}: the location`)).toMatchObject({ groupId: group, location: { latitude: 48.137154, longitude: 11.576124, name: "Marienplatz" } });
      expect(await got(member, (r) => r.id === card.id, `${member}: the card`)).toMatchObject({ groupId: group, contacts: [{ name: "Front desk", phoneNumber: "4915112396666" }] });
    }
    const chat = (await call("GET", "/chats")).body.chats.find((c: any) => c.id === group);
    expect(chat.lastMessage).toMatchObject({ id: card.id, type: "contact", fromMe: true, text: "Front desk" });
  });

  test("presence: typing goes to the contact; theirs reaches only a webhook that lists presence.update; states outside the list are 400", async () => {
    expect((await call("POST", `/chats/${C1}/presence`, { state: "composing" })).body).toEqual({ success: true });
    expect(await got(C1, (r) => r.type === "presence" && r.state === "composing", "our typing")).toBeTruthy();
    expect((await call("POST", "/presence", { state: "available" })).body).toEqual({ success: true });
    for (const [path, state] of [[`/chats/${C1}/presence`, "available"], ["/presence", "composing"], [`/chats/${C1}/presence`, "dancing"]] as const) {
      const bad = await call("POST", path, { state });
      expect([bad.status, bad.body.code]).toEqual([400, "VALIDATION_ERROR"]);
    }
    expect((await call("POST", `/chats/${C1}/presence/subscribe`)).body).toEqual({ success: true });
    // Every event (null) leaves presence out.
    await fromContact({ type: "presence", state: "composing" });
    await Bun.sleep(1500);
    expect(hooks("presence.update")).toHaveLength(0);
    expect((await call("PATCH", "", { webhookEvents: ["message.received", "presence.update"] })).status).toBe(200);
    await fromContact({ type: "presence", state: "recording" });
    const heard = await waitFor(() => hooks("presence.update").find((d) => d.state === "recording"), 10_000, "presence.update");
    expect(heard).toMatchObject({ chatId: C1_JID, from: C1, state: "recording" });
    await fromContact({ type: "presence", state: "unavailable" });
    expect(await waitFor(() => hooks("presence.update").find((d) => d.state === "unavailable"), 10_000, "unavailable")).toMatchObject({ chatId: C1_JID });
  });
});
