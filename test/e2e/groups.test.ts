// Groups end to end: REST, rootless Podman, the sandbox image and the emulator, whose groups are
// WhatsApp's (LID members with phone numbers, w:gp2 notifications, Signal sender keys: each
// member decrypts what the session sends to the group). Webhooks go to a real receiver.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import sharp from "sharp";
import type { RunningEmulator } from "../emulator";
import { startTestApi, type TestApi } from "../support/api";
import { emulatorControl, startEmulatorForContainers } from "../support/emulator";
import { waitFor } from "../support/env";
import { WebhookReceiver } from "../support/webhook-receiver";

const PHONE = "4915112370001";
const OTHER_PHONE = "4915112370002";
const [C1, C2, C3, C4] = ["4915112370011", "4915112370012", "4915112370013", "4915112370014"];
const STRANGER = "4915112379999";
/** The members of the large group: 255 contacts besides the account. */
const CROWD = Array.from({ length: 255 }, (_, i) => `49151124${String(i).padStart(5, "0")}`);

type Received = { id: string; from: string; text?: string; groupId?: string; media?: { sha256?: string } };

describe("groups", () => {
  let emu: RunningEmulator;
  let control: ReturnType<typeof emulatorControl>;
  let t: TestApi;
  const receiver = new WebhookReceiver();
  const a = { id: "", key: "" };
  const b = { id: "", key: "" };
  /** The group the account created, and one a contact made with the account in it. */
  let ours = "";
  let theirs = "";

  const call = (s: { id: string; key: string }, method: string, path: string, body?: unknown) => t.call(method, `/sessions/${s.id}${path}`, { key: s.key, body });
  const group = async (s: typeof a, gid: string) => (await call(s, "GET", `/groups/${gid}`)).body.group;
  const received = async (phone: string) => (await control("GET", `/control/phones/${phone}/received`)).body.messages as Received[];
  const hooks = (s: typeof a, event: string) => receiver.of(s.id).filter((r) => r.json.event === event).map((r) => r.json.data);

  async function link(name: string, phone: string) {
    const created = await t.call("POST", "/sessions/create", { body: { name, webhookUrl: receiver.url } });
    const s = { id: created.body.session.id as string, key: created.body.apiKey as string };
    await waitFor(async () => (await call(s, "GET", "/status")).body.session.state === "qr_ready", 30_000, "qr_ready");
    const qr = (await call(s, "GET", "/qr")).body.qr;
    expect((await control("POST", "/control/scan", { qr, phoneNumber: phone })).status).toBe(200);
    await waitFor(async () => (await call(s, "GET", "/status")).body.session.state === "ready", 60_000, "ready");
    return s;
  }

  beforeAll(async () => {
    receiver.start();
    emu = await startEmulatorForContainers();
    control = emulatorControl(emu);
    expect((await control("POST", "/control/numbers", { add: [C1, C2, C3, C4, ...CROWD] })).status).toBe(200);
    t = await startTestApi(
      "postgres",
      { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, WA_MEDIA_SOCKET: emu.mediaSocketPath!, WA_MEDIA_CA: emu.mediaCa, SANDBOX_REQUEST_TIMEOUT_MS: "15000" },
      { process: true },
    );
    Object.assign(a, await link("grouper", PHONE));
    Object.assign(b, await link("joiner", OTHER_PHONE));
  });
  afterAll(async () => {
    await t?.close();
    await emu?.stop();
    receiver.stop();
  });

  test("a contact's group with the account in it arrives with its members as phone numbers, as a chat and as group.joined", async () => {
    const made = await control("POST", "/control/groups", { creator: C1, subject: "Order 1142", participants: [C2, C3, PHONE] });
    expect(made.status).toBe(200);
    theirs = made.body.id;
    const listed = await waitFor(async () => (await call(a, "GET", "/groups")).body.groups?.find((g: any) => g.id === theirs), 15_000, "the group listed");
    expect(listed).toMatchObject({ id: theirs, subject: "Order 1142", owner: C1, size: 4, announce: false, locked: false, isAdmin: false });
    expect(new Date(listed.createdAt).getTime()).toBeGreaterThan(Date.now() - 120_000);
    const g = await group(a, theirs);
    const byPhone = Object.fromEntries(g.participants.map((p: any) => [p.phoneNumber, p]));
    expect(Object.keys(byPhone).sort()).toEqual([C1, C2, C3, PHONE].sort());
    expect(byPhone[C1].role).toBe("superadmin");
    expect(byPhone[C2].role).toBe("member");
    // WhatsApp names members by LID; the phone number is beside it.
    expect(byPhone[C2].id).toMatch(/@lid$/);
    const chat = (await call(a, "GET", "/chats")).body.chats.find((c: any) => c.id === theirs);
    expect(chat).toMatchObject({ isGroup: true, name: "Order 1142" });
    const joined = await waitFor(() => hooks(a, "group.joined").find((d) => d.groupId === theirs), 10_000, "group.joined");
    expect(joined).toEqual({ groupId: theirs, subject: "Order 1142", by: C1 });
  });

  test("a created group: each of three contacts decrypts a text with a mention and an image; a member's message arrives with its author", async () => {
    const res = await call(a, "POST", "/groups", { subject: "Support team", participants: [C1, `${C2}@s.whatsapp.net`, C3, STRANGER], description: "Shifts and tickets" });
    expect(res.status).toBe(201);
    ours = res.body.group.id;
    expect(ours).toMatch(/^[0-9]+(-[0-9]+)?@g\.us$/);
    expect(res.body.results).toEqual([
      { participant: C1, status: "ok" },
      { participant: `${C2}@s.whatsapp.net`, status: "ok" },
      { participant: C3, status: "ok" },
      { participant: STRANGER, status: "not_on_whatsapp" },
    ]);
    expect(res.body.group).toMatchObject({ subject: "Support team", description: "Shifts and tickets", owner: PHONE, size: 4, isAdmin: true });
    expect(res.body.group.participants.find((p: any) => p.phoneNumber === PHONE).role).toBe("superadmin");

    const text = await call(a, "POST", "/messages", { to: ours, text: "Hello team, @" + C2 + " is on call", mentions: [C2] });
    expect(text.status).toBe(201);
    expect(text.body.message).toMatchObject({ chatId: ours, fromMe: true, mentions: [C2] });
    const bytes = await sharp({ create: { width: 64, height: 48, channels: 3, background: "#2a6" } }).png().toBuffer();
    const image = await call(a, "POST", "/messages", { to: ours, type: "image", caption: "the rota", media: { data: bytes.toString("base64") } });
    expect(image.status).toBe(201);
    const sha = createHash("sha256").update(bytes).digest("hex");
    for (const member of [C1, C2, C3]) {
      const got = await waitFor(async () => {
        const list = await received(member);
        const t1 = list.find((m) => m.id === text.body.message.id);
        const i1 = list.find((m) => m.id === image.body.message.id);
        return t1 && i1 ? { t1, i1 } : null;
      }, 20_000, `${member} to decrypt both`);
      expect(got.t1).toMatchObject({ from: PHONE, groupId: ours, text: "Hello team, @" + C2 + " is on call" });
      expect(got.i1).toMatchObject({ from: PHONE, groupId: ours, media: { sha256: sha } });
    }

    const wrote = await control("POST", `/control/groups/${ours}/messages`, { from: C2, text: "On it." });
    expect(wrote.status).toBe(200);
    const stored = await waitFor(async () => (await call(a, "GET", `/chats/${ours}/messages`)).body.messages.find((m: any) => m.id === wrote.body.id), 15_000, "the member's message");
    expect(stored).toMatchObject({ chatId: ours, fromMe: false, text: "On it.", author: C2, type: "text" });
    const hook = await waitFor(() => hooks(a, "message.received").find((d) => d.id === wrote.body.id), 10_000, "message.received");
    expect(hook.author).toBe(C2);
  });

  test("promote, demote, remove and add, each with its answer per member and its webhook", async () => {
    const change = (action: string, participants: string[]) => call(a, "POST", `/groups/${ours}/participants`, { action, participants });
    const roleOf = async (phone: string) => (await group(a, ours)).participants.find((p: any) => p.phoneNumber === phone)?.role;

    expect((await change("promote", [C1])).body).toEqual({ success: true, results: [{ participant: C1, status: "ok" }] });
    await waitFor(async () => (await roleOf(C1)) === "admin", 10_000, "C1 admin");
    expect((await change("demote", [C1])).body.results).toEqual([{ participant: C1, status: "ok" }]);
    await waitFor(async () => (await roleOf(C1)) === "member", 10_000, "C1 member again");
    expect((await change("remove", [C3])).body.results).toEqual([{ participant: C3, status: "ok" }]);
    expect((await group(a, ours)).size).toBe(3);
    const added = await change("add", [C3, C4, C2]);
    expect(added.body.results).toEqual([
      { participant: C3, status: "ok" },
      { participant: C4, status: "ok" },
      { participant: C2, status: "already_a_member" },
    ]);
    const g = await group(a, ours);
    expect(g.size).toBe(5);
    expect(g.participants.map((p: any) => p.phoneNumber).sort()).toEqual([C1, C2, C3, C4, PHONE].sort());

    const seen = () => hooks(a, "group.participants").filter((d) => d.groupId === ours);
    await waitFor(() => seen().length >= 4, 10_000, "four group.participants");
    expect(seen().map((d) => [d.action, d.participants, d.by])).toEqual([
      ["promote", [C1], PHONE],
      ["demote", [C1], PHONE],
      ["remove", [C3], PHONE],
      ["add", [C3, C4], PHONE],
    ]);
  });

  test("subject, description, announce and locked: changed by the API or by another admin, each a group.update", async () => {
    const patched = await call(a, "PATCH", `/groups/${ours}`, { subject: "Support (EU)", description: "Weekdays 8-18" });
    expect(patched.status).toBe(200);
    expect(patched.body.group).toMatchObject({ subject: "Support (EU)", description: "Weekdays 8-18" });
    const settings = await call(a, "PATCH", `/groups/${ours}`, { announce: true, locked: true });
    expect(settings.body.group).toMatchObject({ announce: true, locked: true });
    expect((await call(a, "GET", "/chats")).body.chats.find((c: any) => c.id === ours).name).toBe("Support (EU)");

    // Another admin renames it at WhatsApp.
    expect((await call(a, "POST", `/groups/${ours}/participants`, { action: "promote", participants: [C1] })).status).toBe(200);
    expect((await control("PATCH", `/control/groups/${ours}`, { by: C1, subject: "Support (EU+UK)" })).status).toBe(200);
    await waitFor(async () => (await group(a, ours)).subject === "Support (EU+UK)", 10_000, "the rename");

    const updates = () => hooks(a, "group.update").filter((d) => d.groupId === ours);
    await waitFor(() => updates().some((d) => d.by === C1), 10_000, "the other admin's group.update");
    const changes = Object.assign({}, ...updates().map((d) => d.changes));
    expect(changes).toEqual({ subject: "Support (EU+UK)", description: "Weekdays 8-18", announce: true, locked: true });
    expect(updates().find((d) => d.by === C1)).toEqual({ groupId: ours, changes: { subject: "Support (EU+UK)" }, by: C1 });
  });

  test("announce-only refuses a non-admin's send, and admins' calls are 403 NOT_GROUP_ADMIN for a member", async () => {
    expect((await control("PATCH", `/control/groups/${theirs}`, { by: C1, announce: true })).status).toBe(200);
    await waitFor(async () => (await group(a, theirs)).announce === true, 10_000, "announce");
    const send = await call(a, "POST", "/messages", { to: theirs, text: "may I?" });
    expect(send.status).toBe(403);
    expect(send.body.code).toBe("NOT_ALLOWED_TO_SEND");
    for (const [method, path, body] of [
      ["PATCH", `/groups/${theirs}`, { locked: true }],
      ["POST", `/groups/${theirs}/participants`, { action: "add", participants: [C4] }],
      ["GET", `/groups/${theirs}/invite`, undefined],
    ] as const) {
      const res = await call(a, method, path, body);
      expect([res.status, res.body.code]).toEqual([403, "NOT_GROUP_ADMIN"]);
    }
    // Nothing reached the members.
    expect((await received(C2)).some((m) => m.text === "may I?")).toBe(false);
  });

  test("invite link, revoke, join by link from another session, leave", async () => {
    const invite = await call(a, "GET", `/groups/${ours}/invite`);
    expect(invite.status).toBe(200);
    expect(invite.body.url).toBe(`https://chat.whatsapp.com/${invite.body.code}`);
    const joined = await call(b, "POST", "/groups/join", { code: invite.body.url });
    expect(joined.status).toBe(200);
    expect(joined.body.group).toMatchObject({ id: ours, isAdmin: false });
    expect(joined.body.group.participants.some((p: any) => p.phoneNumber === OTHER_PHONE)).toBe(true);
    await waitFor(() => hooks(b, "group.joined").some((d) => d.groupId === ours), 10_000, "b's group.joined");
    await waitFor(() => hooks(a, "group.participants").some((d) => d.action === "add" && d.participants.includes(OTHER_PHONE)), 10_000, "a sees b join");

    const revoked = await call(a, "DELETE", `/groups/${ours}/invite`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.code).not.toBe(invite.body.code);
    const left = await call(b, "POST", `/groups/${ours}/leave`);
    expect(left.body).toEqual({ success: true });
    expect((await call(b, "GET", "/groups")).body.groups.some((g: any) => g.id === ours)).toBe(false);
    await waitFor(() => hooks(b, "group.left").some((d) => d.groupId === ours), 10_000, "group.left");
    const stale = await call(b, "POST", "/groups/join", { code: invite.body.code });
    expect([stale.status, stale.body.code]).toEqual([404, "INVITE_NOT_FOUND"]);
    const read = await call(b, "GET", `/groups/${ours}`);
    expect([read.status, read.body.code]).toEqual([404, "GROUP_NOT_FOUND"]);
  });

  test("what changed while the session was stopped is there after it starts: the sync at connect and the notifications kept for it", async () => {
    expect((await call(a, "POST", "/stop")).status).toBe(200);
    const made = await control("POST", "/control/groups", { creator: C4, subject: "While away", participants: [C1, PHONE] });
    expect((await control("POST", `/control/groups/${theirs}/participants`, { by: C1, action: "remove", participants: [PHONE] })).status).toBe(200);
    expect((await call(a, "POST", "/start")).status).toBe(200);
    await waitFor(async () => (await call(a, "GET", "/status")).body.session.state === "ready", 60_000, "ready again");
    const ids = async () => ((await call(a, "GET", "/groups")).body.groups as { id: string }[]).map((g) => g.id);
    await waitFor(async () => (await ids()).includes(made.body.id) && !(await ids()).includes(theirs), 15_000, "the groups as WhatsApp has them");
    expect(await ids()).toContain(ours);
    await waitFor(() => hooks(a, "group.left").some((d) => d.groupId === theirs), 10_000, "group.left for the group it was removed from");
    expect(hooks(a, "group.left").filter((d) => d.groupId === theirs)).toHaveLength(1);
  });

  test("group ids: percent-encoded or not, malformed is 400, and another session's key is refused", async () => {
    expect((await call(a, "GET", `/groups/${encodeURIComponent(ours)}`)).body.group.id).toBe(ours);
    for (const bad of ["12345", "abc@g.us", "4915112370011@s.whatsapp.net", "1-2@g.us"]) {
      const res = await call(a, "GET", `/groups/${encodeURIComponent(bad)}`);
      expect([res.status, res.body.code]).toEqual([400, "VALIDATION_ERROR"]);
    }
    const other = await t.call("GET", `/sessions/${a.id}/groups`, { key: b.key });
    expect(other.status).toBe(403);
    const otherOne = await t.call("GET", `/sessions/${a.id}/groups/${ours}`, { key: b.key });
    expect(otherOne.status).toBe(403);
  });

  test("a group of 256: three sends reach every member and ask WhatsApp for no group metadata", async () => {
    const made = await control("POST", "/control/groups", { creator: CROWD[0], subject: "Everyone", participants: [...CROWD.slice(1), PHONE] });
    const gid = made.body.id as string;
    await waitFor(async () => (await call(a, "GET", "/groups")).body.groups.find((g: any) => g.id === gid)?.size === 256, 15_000, "the big group");
    const queries = async () => ((await control("GET", `/control/stats?phone=${PHONE}`)).body.iqs?.["w:g2 query"] as number | undefined) ?? 0;
    const before = await queries();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call(a, "POST", "/messages", { to: gid, text: `notice ${i}` });
      expect(res.status).toBe(201);
      ids.push(res.body.message.id);
    }
    for (const member of CROWD) {
      await waitFor(async () => {
        const got = await received(member);
        return ids.every((mid) => got.some((m) => m.id === mid && m.groupId === gid));
      }, 30_000, `${member} to decrypt all three`);
    }
    expect(await queries()).toBe(before);
  });
});
