// Groups against a real Baileys client: LID-addressed metadata, the w:g2 queries Baileys sends,
// the w:gp2 notifications it turns into events, and group messages with Signal sender keys both
// ways (the device's skmsg decrypted by every member contact; a member's skmsg decrypted by the
// device), invites, announcement groups and a 256-member group.
import { beforeAll, describe, expect, test } from "bun:test";
import { downloadMediaMessage, jidNormalizedUser, proto, type BinaryNode, type GroupMetadata } from "@whiskeysockets/baileys";
import { createHash } from "node:crypto";
import { PNG } from "pngjs";
import { emulatorSuite } from "./suite";
import { connectClient, trustMediaServer, type TestClient } from "./test-client";

const { Status } = proto.WebMessageInfo;
const suite = emulatorSuite("4915");
const { clients, newNumber, control, linked, contacts, received } = suite;
beforeAll(() => trustMediaServer(suite.emu));
const lid = (n: string) => `${suite.emu.state.lid(n)}@lid`;
const pn = (n: string) => `${n}@s.whatsapp.net`;




async function createGroup(creator: string, subject: string, participants: string[]): Promise<string> {
  const res = await control("POST", "/control/groups", { creator, subject, participants });
  expect(res.status).toBe(200);
  return res.body.id;
}

/** The enc types of each message stanza a client's socket receives, by message id. */
function encTypes(c: TestClient): Map<string, string[]> {
  const types = new Map<string, string[]>();
  c.sock.ws.on("CB:message", (n: BinaryNode) => {
    if (Array.isArray(n.content)) types.set(n.attrs.id!, n.content.filter((x) => x.tag === "enc").map((x) => x.attrs.type!));
  });
  return types;
}

/** A status the client reported for its message: in a `messages.update`, or folded into the message's own upsert (Baileys' event buffer). */
const statusOf = (c: TestClient, id: string, status: number) => () =>
  c.updates.find((u) => u.key.id === id && u.update.status === status)?.update ??
  c.messages.filter((m) => m.key.id === id && m.status === status).map((m) => ({ status: m.status, messageStubParameters: m.messageStubParameters }))[0];

/** The members whose delivery receipts the client has for its group message (`message-receipt.update`, or folded into the upsert). */
const receiptsOf = (c: TestClient, id: string) => [
  ...new Set([
    ...c.receipts.filter((u) => u.key.id === id).map((u) => u.receipt.userJid),
    ...c.messages.filter((m) => m.key.id === id).flatMap((m) => (m.userReceipt ?? []).map((r) => r.userJid)),
  ]),
];

/** The Boom an iq refusal becomes in Baileys: its `data` is the error code. */
async function refusal(p: Promise<unknown>): Promise<number> {
  const err = (await p.then(
    () => undefined,
    (e) => e,
  )) as { data?: unknown } | undefined;
  if (!err) throw new Error("expected a refusal");
  return Number(err.data);
}

function png(width: number, height: number): Buffer {
  const img = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) img.data.set([(i * 7) % 256, (i * 13) % 256, (i * 29) % 256, 255], i * 4);
  return PNG.sync.write(img);
}



describe("a group a contact makes", () => {
  test("the linked account joins (groups.upsert); its queries show LID participants with phone numbers", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const [owner, b, d] = await contacts(3);
    const id = await createGroup(owner!, "Family", [phone, b!, d!]);
    expect(id).toMatch(/^\d+(-\d+)?@g\.us$/);

    const joined = await c.waitFor(() => c.groups.upserts.find((g) => g.id === id), 5000, "groups.upsert");
    expect(joined).toMatchObject({ subject: "Family", addressingMode: "lid", owner: lid(owner!), ownerPn: pn(owner!), author: lid(owner!), authorPn: pn(owner!) });
    const expected = [
      { id: lid(owner!), phoneNumber: pn(owner!), admin: "superadmin" as const },
      { id: lid(phone), phoneNumber: pn(phone), admin: null },
      { id: lid(b!), phoneNumber: pn(b!), admin: null },
      { id: lid(d!), phoneNumber: pn(d!), admin: null },
    ];
    expect(joined.participants.map(({ id, phoneNumber, admin }) => ({ id, phoneNumber, admin }))).toEqual(expected);

    const all = await c.sock.groupFetchAllParticipating();
    expect(Object.keys(all)).toEqual([id]);
    const meta = await c.sock.groupMetadata(id);
    expect(meta).toMatchObject({ id, subject: "Family", size: 4, announce: false, restrict: false, addressingMode: "lid" });
    expect(meta.participants.map(({ id, phoneNumber, admin }) => ({ id, phoneNumber, admin }))).toEqual(expected);
    expect(all[id]!.participants).toEqual(meta.participants);

    expect((await control("GET", `/control/groups/${id}`)).body).toEqual({
      id,
      subject: "Family",
      description: null,
      announce: false,
      locked: false,
      participants: [
        { phone: owner, role: "superadmin" },
        { phone, role: "member" },
        { phone: b, role: "member" },
        { phone: d, role: "member" },
      ],
    });
  });

  test("a linked account added later gets the group, then the add; removed, it hears the remove too", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const [owner, b] = await contacts(2);
    const id = await createGroup(owner!, "Later joiners", [b!]);
    const order: string[] = [];
    c.sock.ev.on("groups.upsert", (groups) => groups.some((g) => g.id === id) && order.push("upsert"));
    c.sock.ev.on("group-participants.update", (e) => e.id === id && order.push(e.action));
    const added = await control("POST", `/control/groups/${id}/participants`, { by: owner, action: "add", participants: [phone] });
    expect(added.body).toEqual({ participants: [{ phone, status: 200 }] });
    const joined = await c.waitFor(() => c.groups.upserts.find((g) => g.id === id), 5000, "groups.upsert");
    expect(joined.participants.map((p) => p.phoneNumber)).toEqual([pn(owner!), pn(b!), pn(phone)]);
    const add = await c.waitFor(() => c.groups.participants.find((e) => e.id === id && e.action === "add"), 5000, "the add");
    expect(add).toMatchObject({ author: lid(owner!), participants: [{ id: lid(phone), phoneNumber: pn(phone) }] });
    expect(order).toEqual(["upsert", "add"]);

    expect((await control("POST", `/control/groups/${id}/participants`, { by: owner, action: "remove", participants: [phone] })).status).toBe(200);
    await c.waitFor(() => c.groups.participants.find((e) => e.id === id && e.action === "remove" && e.participants[0]?.id === lid(phone)), 5000, "the remove");
    expect(await refusal(c.sock.groupMetadata(id))).toBe(403);
  });

  test("a member writes: the device decrypts it from the member's LID (pkmsg with the sender key first, then skmsg alone)", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const types = encTypes(c);
    const [owner, b] = await contacts(2);
    const id = await createGroup(owner!, "Club", [phone, b!]);
    const first = await control("POST", `/control/groups/${encodeURIComponent(id)}/messages`, { from: b, text: "hi all" });
    expect(first.status).toBe(200);
    const m1 = await c.waitFor(() => c.messages.find((m) => m.key.id === first.body.id), 5000, "the first group message");
    expect(m1.key).toMatchObject({ remoteJid: id, fromMe: false, participant: lid(b!), participantAlt: pn(b!), addressingMode: "lid" });
    expect(m1.message?.conversation).toBe("hi all");
    expect(m1.messageStubType ?? 0).toBe(0);
    // Baileys learnt the member's phone number from participant_pn.
    expect(jidNormalizedUser((await c.sock.signalRepository.lidMapping.getPNForLID(lid(b!))) ?? "")).toBe(pn(b!));

    const second = await control("POST", `/control/groups/${id}/messages`, { from: b, text: "again" });
    const m2 = await c.waitFor(() => c.messages.find((m) => m.key.id === second.body.id), 5000, "the second group message");
    expect(m2.message?.conversation).toBe("again");
    const third = await control("POST", `/control/groups/${id}/messages`, { from: owner, text: "welcome" });
    const m3 = await c.waitFor(() => c.messages.find((m) => m.key.id === third.body.id), 5000, "the owner's message");
    expect(m3.key.participant).toBe(lid(owner!));
    expect(m3.message?.conversation).toBe("welcome");
    expect([types.get(first.body.id), types.get(second.body.id), types.get(third.body.id)]).toEqual([["pkmsg", "skmsg"], ["skmsg"], ["pkmsg", "skmsg"]]);
  });

  test("a device that is away gets the group's messages and changes when it reconnects; a member's image downloads", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const [owner, b] = await contacts(2);
    const id = await createGroup(owner!, "Later", [phone, b!]);
    await c.waitFor(() => c.groups.upserts.find((g) => g.id === id), 5000, "groups.upsert");
    c.end();
    await c.waitFor(async () => {
      const devices = (await control("GET", "/control/devices")).body.devices as { jid: string; connected: boolean }[];
      return devices.some((d) => d.jid === c.sock.user?.id && !d.connected);
    }, 5000, "the device to be offline");
    const text = await control("POST", `/control/groups/${id}/messages`, { from: b, text: "while you were away" });
    expect((await control("PATCH", `/control/groups/${id}`, { by: owner, subject: "Later on" })).status).toBe(200);
    const picture = png(32, 32);
    const image = await control("POST", `/control/groups/${id}/messages`, { from: owner, type: "image", media: { data: picture.toString("base64"), mimetype: "image/png" }, caption: "see" });
    expect(image.status).toBe(200);

    const back = await connectClient(suite.emu.wsUrl, { dir: c.dir });
    clients.push(back);
    const m = await back.waitFor(() => back.messages.find((x) => x.key.id === text.body.id && x.message?.conversation), 5000, "the queued group message");
    expect(m.key.participant).toBe(lid(b!));
    await back.waitFor(() => back.groups.updates.find((u) => u.id === id && u.subject === "Later on"), 5000, "the queued subject change");
    const img = await back.waitFor(() => back.messages.find((x) => x.key.id === image.body.id && x.message?.imageMessage), 5000, "the queued image");
    expect(img.message?.imageMessage?.caption).toBe("see");
    expect(Buffer.compare(await downloadMediaMessage(img, "buffer", {}), picture)).toBe(0);
  });
});

describe("a linked device writes to a group", () => {
  test("each member contact decrypts the text and the image (with groupId); the device gets a receipt per member", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const members = await contacts(3);
    const id = await createGroup(members[0]!, "Trio", [phone, ...members.slice(1)]);
    await c.waitFor(() => c.groups.upserts.find((g) => g.id === id), 5000, "groups.upsert");

    const text = await c.sendText(id, "Hello, group ✓");
    for (const n of members) {
      const got = await c.waitFor(async () => (await received(n)).find((m) => m.id === text.key.id), 5000, `member ${n} to decrypt`);
      expect(got).toEqual({ id: text.key.id, from: phone, groupId: id, text: "Hello, group ✓", timestamp: expect.any(Number) });
    }
    const receipts = await c.waitFor(() => receiptsOf(c, text.key.id!).length === members.length && receiptsOf(c, text.key.id!), 5000, "a receipt per member");
    expect(receipts.sort()).toEqual(members.map(lid).sort());

    const picture = png(64, 48);
    const image = await c.sock.sendMessage(id, { image: picture, caption: "look", mimetype: "image/png" });
    for (const n of members) {
      const got = await c.waitFor(async () => (await received(n)).find((m) => m.id === image!.key.id), 5000, `member ${n} to get the image`);
      expect(got).toMatchObject({ from: phone, groupId: id, type: "image", caption: "look" });
      expect(got.media).toMatchObject({ mimetype: "image/png", size: picture.length, sha256: createHash("sha256").update(picture).digest("hex") });
    }

    const mention = await c.sock.sendMessage(id, { text: `@${members[1]} look`, mentions: [lid(members[1]!)] });
    const got = await c.waitFor(async () => (await received(members[1]!)).find((m) => m.id === mention!.key.id), 5000, "the mention");
    expect(got.mentions).toEqual([lid(members[1]!)]);
  });

  test("an announcement group refuses a non-admin's message (ack error 403) and no member gets it", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const [owner, b] = await contacts(2);
    const id = await createGroup(owner!, "News", [phone, b!]);
    await c.waitFor(() => c.groups.upserts.find((g) => g.id === id), 5000, "groups.upsert");
    expect((await control("PATCH", `/control/groups/${id}`, { by: owner, announce: true })).status).toBe(200);
    await c.waitFor(() => c.groups.updates.find((u) => u.id === id && u.announce === true), 5000, "groups.update announce");

    const sent = await c.sendText(id, "may I?");
    const failed = await c.waitFor(statusOf(c, sent.key.id!, Status.ERROR), 5000, "the refusal");
    expect(failed.messageStubParameters).toEqual(["403"]);
    expect(await control("POST", `/control/groups/${id}/messages`, { from: phone, text: "me neither" })).toMatchObject({ status: 403, body: { code: "NOT_GROUP_ADMIN" } });
    await Bun.sleep(100);
    expect((await received(b!)).filter((m) => m.groupId === id)).toEqual([]);

    // An admin still writes.
    const ok = await control("POST", `/control/groups/${id}/messages`, { from: owner, text: "news" });
    await c.waitFor(() => c.messages.find((m) => m.key.id === ok.body.id && m.message?.conversation === "news"), 5000, "the admin's news");
  });
});

describe("a linked device manages a group", () => {
  test("create, promote, demote, remove, add, subject, description, announce, locked: each raises Baileys' events", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const [x, y, z] = await contacts(3);
    const nobody = newNumber();
    const meta = await c.sock.groupCreate("Team", [pn(x!), pn(y!), pn(nobody)]);
    expect(meta.owner).toBe(lid(phone));
    expect(meta.participants.map((p) => [p.id, p.admin])).toEqual([
      [lid(phone), "superadmin"],
      [lid(x!), null],
      [lid(y!), null],
    ]);
    const id = meta.id;
    await c.waitFor(() => c.groups.upserts.find((g) => g.id === id), 5000, "groups.upsert of the new group");

    const participantsEvent = (action: string, who: string) => () =>
      c.groups.participants.find((e) => e.id === id && e.action === action && e.participants.some((p) => p.id === lid(who)));
    expect(await c.sock.groupParticipantsUpdate(id, [pn(x!)], "promote")).toMatchObject([{ status: "200", jid: pn(x!) }]);
    const promoted = await c.waitFor(participantsEvent("promote", x!), 5000, "promote event");
    // (Baileys drops authorPn for participant changes: the stub's key loses participantAlt.)
    expect(promoted).toMatchObject({ author: lid(phone), participants: [{ id: lid(x!), phoneNumber: pn(x!), admin: "admin" }] });
    await c.sock.groupParticipantsUpdate(id, [pn(x!)], "demote");
    await c.waitFor(participantsEvent("demote", x!), 5000, "demote event");
    expect(await c.sock.groupParticipantsUpdate(id, [pn(y!)], "remove")).toMatchObject([{ status: "200" }]);
    await c.waitFor(participantsEvent("remove", y!), 5000, "remove event");
    const added = await c.sock.groupParticipantsUpdate(id, [pn(z!), pn(y!), pn(x!), pn(nobody)], "add");
    expect(added.map((r) => r.status)).toEqual(["200", "200", "409", "404"]);
    await c.waitFor(participantsEvent("add", z!), 5000, "add event");
    expect(await c.sock.groupParticipantsUpdate(id, [pn(nobody)], "remove")).toMatchObject([{ status: "404" }]);

    await c.sock.groupUpdateSubject(id, "Team 2");
    await c.waitFor(() => c.groups.updates.find((u) => u.id === id && u.subject === "Team 2" && u.author === lid(phone)), 5000, "subject event");
    await c.sock.groupUpdateDescription(id, "What we do");
    await c.waitFor(() => c.groups.updates.find((u) => u.id === id && u.desc === "What we do"), 5000, "description event");
    await c.sock.groupUpdateDescription(id, "What we really do"); // Baileys sends the previous id as `prev`
    await c.waitFor(() => c.groups.updates.find((u) => u.id === id && u.desc === "What we really do"), 5000, "second description event");
    for (const [setting, change] of [
      ["announcement", { announce: true }],
      ["locked", { restrict: true }],
      ["not_announcement", { announce: false }],
      ["unlocked", { restrict: false }],
    ] as const) {
      await c.sock.groupSettingUpdate(id, setting);
      await c.waitFor(() => c.groups.updates.find((u) => u.id === id && Object.entries(change).every(([k, v]) => u[k as keyof typeof u] === v)), 5000, `${setting} event`);
    }
    const after = await c.sock.groupMetadata(id);
    expect(after).toMatchObject({ subject: "Team 2", desc: "What we really do", announce: false, restrict: false, size: 4 });
    expect((await control("GET", `/control/groups/${id}`)).body.participants).toEqual([
      { phone, role: "superadmin" },
      { phone: x, role: "member" },
      { phone: z, role: "member" },
      { phone: y, role: "member" },
    ]);
  });

  test("invite code, revoke, join by code from another account's device, leave", async () => {
    const [phoneA, phoneB] = [newNumber(), newNumber()];
    const a = await linked(phoneA);
    const b = await linked(phoneB);
    const [x] = await contacts(1);
    const { id } = await a.sock.groupCreate("Open", [pn(x!)]);
    const code = await a.sock.groupInviteCode(id);
    expect(code).toMatch(/^[A-Za-z0-9]{22}$/);
    expect(await a.sock.groupInviteCode(id)).toBe(code);
    expect(await b.sock.groupGetInviteInfo(code!)).toMatchObject({ id, subject: "Open", size: 2 });
    expect(await refusal(b.sock.groupMetadata(id))).toBe(403); // not a member

    const fresh = await a.sock.groupRevokeInvite(id);
    expect(fresh).not.toBe(code);
    await a.waitFor(() => a.groups.updates.find((u) => u.id === id && u.inviteCode === fresh), 5000, "the invite change");
    expect(await refusal(b.sock.groupAcceptInvite(code!))).toBe(410);
    expect(await refusal(b.sock.groupAcceptInvite("AAAAAAAAAAAAAAAAAAAAAA"))).toBe(406);

    expect(await b.sock.groupAcceptInvite(fresh!)).toBe(id);
    const joined = await b.waitFor(() => b.groups.upserts.find((g) => g.id === id), 5000, "the joiner's groups.upsert");
    expect(joined.participants.map((p) => p.id)).toContain(lid(phoneB));
    await a.waitFor(() => a.groups.participants.find((e) => e.id === id && e.action === "add" && e.participants[0]?.id === lid(phoneB)), 5000, "the admin sees the join");

    await b.sock.groupLeave(id);
    const left = await a.waitFor(() => a.groups.participants.find((e) => e.id === id && e.action === "remove" && e.participants[0]?.id === lid(phoneB)), 5000, "the admin sees the leave");
    expect(left.author).toBe(lid(phoneB));
    await b.waitFor(() => b.groups.participants.find((e) => e.id === id && e.action === "remove"), 5000, "the leaver hears it too");
    expect(Object.keys(await b.sock.groupFetchAllParticipating())).toEqual([]);
    expect((await control("GET", `/control/groups/${id}`)).body.participants.map((p: { phone: string }) => p.phone)).toEqual([phoneA, x]);
  });

  test("refusals: a member who is no admin gets 401, a non-member 403, an unknown group 404", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const [owner, b] = await contacts(2);
    const id = await createGroup(owner!, "Rules", [phone, b!]);
    await c.waitFor(() => c.groups.upserts.find((g) => g.id === id), 5000, "groups.upsert");
    // In a group that is not locked, members edit its info.
    await c.sock.groupUpdateSubject(id, "Our rules");
    expect((await control("GET", `/control/groups/${id}`)).body.subject).toBe("Our rules");
    expect((await control("PATCH", `/control/groups/${id}`, { by: owner, locked: true })).status).toBe(200);
    expect(await refusal(c.sock.groupUpdateSubject(id, "Mine now"))).toBe(401);
    expect(await refusal(c.sock.groupSettingUpdate(id, "announcement"))).toBe(401);
    expect(await refusal(c.sock.groupParticipantsUpdate(id, [pn(b!)], "remove"))).toBe(401);
    expect(await refusal(c.sock.groupInviteCode(id))).toBe(401);
    const other = await createGroup(owner!, "Elsewhere", [b!]);
    expect(await refusal(c.sock.groupMetadata(other))).toBe(403);
    expect(await refusal(c.sock.groupMetadata("120363000000000000@g.us"))).toBe(404);
    expect(await refusal(c.sock.groupCreate("", [pn(b!)]))).toBe(400);
  });
});

describe("a group of 256 members", () => {
  test("three sends ask no group metadata each; every member decrypts all three", async () => {
    const phone = newNumber();
    const cache = new Map<string, GroupMetadata>();
    const c = await linked(phone, { cachedGroupMetadata: async (jid) => cache.get(jid) });
    const members = await contacts(255);
    const id = await createGroup(phone, "Everyone", members);
    const upsert = await c.waitFor(() => c.groups.upserts.find((g) => g.id === id), 5000, "groups.upsert");
    expect(upsert.participants).toHaveLength(256);
    cache.set(id, upsert);
    const stats = async () => (await control("GET", `/control/stats?phone=${phone}`)).body.iqs as Record<string, number>;
    const before = await stats();

    const ids: string[] = [];
    for (const text of ["one", "two", "three"]) ids.push((await c.sendText(id, text)).key.id!);
    // A member answers its receipt once it has decrypted the message.
    await c.waitFor(() => ids.every((i) => receiptsOf(c, i).length === members.length), 20000, "every member's receipts");
    for (const n of members) {
      expect((await received(n)).map((m) => [m.id, m.groupId, m.text, m.from])).toEqual([
        [ids[0], id, "one", phone],
        [ids[1], id, "two", phone],
        [ids[2], id, "three", phone],
      ]);
    }
    const after = await stats();
    expect(after["w:g2 query"] ?? 0).toBe(before["w:g2 query"] ?? 0);
    // The devices and key bundles of all members are fetched once, for the first send.
    expect((after.usync ?? 0) - (before.usync ?? 0)).toBeLessThanOrEqual(1);
    expect((after["encrypt key"] ?? 0) - (before["encrypt key"] ?? 0)).toBeLessThanOrEqual(1);
  }, 40000);
});

describe("control input", () => {
  test("unknown groups 404, non-members and non-admins 403, bad input 400; stats by account", async () => {
    const phone = newNumber();
    await linked(phone);
    const [owner, b] = await contacts(2);
    const stranger = newNumber();
    expect(await control("POST", "/control/groups", { creator: stranger, subject: "x", participants: [] })).toMatchObject({ status: 404, body: { code: "NOT_ON_WHATSAPP" } });
    expect(await control("POST", "/control/groups", { creator: owner, subject: "x", participants: [stranger] })).toMatchObject({ status: 404, body: { code: "NOT_ON_WHATSAPP" } });
    expect(await control("POST", "/control/groups", { creator: owner, subject: "", participants: [] })).toMatchObject({ status: 400, body: { code: "INVALID_SUBJECT" } });
    const id = await createGroup(owner!, "Admins only", [phone, b!]);
    expect(await control("GET", "/control/groups/120363000000000001@g.us")).toMatchObject({ status: 404, body: { code: "UNKNOWN_GROUP" } });
    expect(await control("PATCH", `/control/groups/${id}`, { by: b, subject: "mine" })).toMatchObject({ status: 403, body: { code: "NOT_GROUP_ADMIN" } });
    expect(await control("PATCH", `/control/groups/${id}`, { by: owner })).toMatchObject({ status: 400 });
    expect(await control("PATCH", `/control/groups/${id}`, { by: owner, announce: "yes" })).toMatchObject({ status: 400 });
    const outsider = (await contacts(1))[0]!;
    expect(await control("PATCH", `/control/groups/${id}`, { by: outsider, locked: true })).toMatchObject({ status: 403, body: { code: "NOT_GROUP_MEMBER" } });
    expect(await control("POST", `/control/groups/${id}/messages`, { from: outsider, text: "hi" })).toMatchObject({ status: 403, body: { code: "NOT_GROUP_MEMBER" } });
    expect(await control("POST", `/control/groups/${id}/messages`, { from: b, text: "" })).toMatchObject({ status: 400 });
    expect(await control("POST", `/control/groups/${id}/participants`, { by: b, action: "add", participants: [outsider] })).toMatchObject({ status: 403, body: { code: "NOT_GROUP_ADMIN" } });
    expect(await control("POST", `/control/groups/${id}/participants`, { by: owner, action: "kick", participants: [b] })).toMatchObject({ status: 400 });
    expect((await control("POST", `/control/groups/${id}/participants`, { by: owner, action: "add", participants: [outsider, b, stranger] })).body).toEqual({
      participants: [
        { phone: outsider, status: 200 },
        { phone: b, status: 409 },
        { phone: stranger, status: 404 },
      ],
    });
    expect((await control("POST", `/control/groups/${id}/participants`, { by: b, action: "remove", participants: [b] })).body).toEqual({ participants: [{ phone: b, status: 200 }] });
    expect(await control("GET", `/control/stats?phone=${stranger}`)).toMatchObject({ status: 404, body: { code: "UNKNOWN_PHONE" } });
    const stats = (await control("GET", `/control/stats?phone=${phone}`)).body.iqs;
    expect(stats.usync).toBeGreaterThan(0);
  });
});
