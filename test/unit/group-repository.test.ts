// The group store's rules on in-memory PGlite: members named by phone number wherever a LID
// mapping says it (now or later), membership changes that keep the account's admin flag true,
// group.joined only for a group new here, and a sync that forgets the groups it no longer lists.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { openDatabase, type Database } from "../../src/db/client";
import { DeliveryRepository } from "../../src/db/delivery-repository";
import { GroupRepository, type GroupInput } from "../../src/db/group-repository";
import type { SessionRow } from "../../src/db/schema";
import { SessionRepository } from "../../src/db/session-repository";

const ME = "4915112380001";
let db: Database;
let groups: GroupRepository;
let deliveries: DeliveryRepository;
let sessions: SessionRepository;
beforeAll(async () => {
  db = await openDatabase({ dataDir: null });
  groups = new GroupRepository(db.db);
  deliveries = new DeliveryRepository(db.db);
  sessions = new SessionRepository(db.db);
});
afterAll(() => db.close());

async function session(): Promise<SessionRow> {
  const id = randomUUID();
  await sessions.insert({ id, name: `g-${id.slice(0, 8)}`, state: "ready", keyHash: randomUUID(), phoneNumber: ME, webhookUrl: "http://127.0.0.1:9/h" });
  return (await sessions.byId(id))!;
}

const group = (over: Partial<GroupInput> = {}): GroupInput => ({
  id: "120363040000000001@g.us",
  subject: "Team",
  description: null,
  owner: ME,
  createdAt: 1_700_000_000,
  announce: false,
  locked: false,
  isAdmin: false,
  participants: [
    { id: "100000000000001@lid", phoneNumber: null, role: "superadmin" },
    { id: "100000000000002@lid", phoneNumber: ME, role: "member" },
    { id: "4915112380003@s.whatsapp.net", phoneNumber: null, role: "member" },
  ],
  ...over,
});

test("members get their phone numbers from their jid, and from LID mappings learned before or after", async () => {
  const s = await session();
  await groups.addLidMappings(s.id, [{ lid: "100000000000001", phone: "4915112380002" }]);
  await groups.upsert(s, group({ participants: [...group().participants, { id: "100000000000004@lid", phoneNumber: null, role: "member" }] }));
  let g = (await groups.byId(s.id, group().id))!;
  expect(g.participants.map((p) => p.phoneNumber)).toEqual(["4915112380002", ME, "4915112380003", null]);
  await groups.addLidMappings(s.id, [{ lid: "100000000000004", phone: "4915112380004" }]);
  g = (await groups.byId(s.id, group().id))!;
  expect(g.participants.map((p) => p.phoneNumber)).toEqual(["4915112380002", ME, "4915112380003", "4915112380004"]);
  expect(g.participants.map((p) => p.role)).toEqual(["superadmin", "member", "member", "member"]);
});

test("promote and demote move the account's admin flag; add and remove keep size; group.joined only when the group is new", async () => {
  const s = await session();
  const joined = [{ event: "group.joined" as const, data: { groupId: group().id } }];
  expect(await groups.upsert(s, group(), joined)).toBe(true);
  expect(await groups.upsert(s, group(), joined)).toBe(false);
  expect((await deliveries.openOfMany([s.id], 10)).map((d) => d.event)).toEqual(["group.joined"]);
  const isMe = (p: { phoneNumber: string | null }) => p.phoneNumber === ME;
  await groups.applyParticipants(s, group().id, "promote", [{ id: "100000000000002@lid", phoneNumber: ME }], isMe, []);
  expect((await groups.byId(s.id, group().id))!.isAdmin).toBe(true);
  await groups.applyParticipants(s, group().id, "demote", [{ id: "100000000000002@lid", phoneNumber: ME }], isMe, []);
  expect((await groups.byId(s.id, group().id))!.isAdmin).toBe(false);
  // The superadmin stays one whatever a demote says.
  await groups.applyParticipants(s, group().id, "demote", [{ id: "100000000000001@lid", phoneNumber: null }], isMe, []);
  await groups.applyParticipants(s, group().id, "add", [{ id: "100000000000009@lid", phoneNumber: "4915112380009" }], isMe, []);
  await groups.applyParticipants(s, group().id, "remove", [{ id: "4915112380003@s.whatsapp.net", phoneNumber: null }], isMe, []);
  const g = (await groups.byId(s.id, group().id))!;
  expect(g.participants.map((p) => [p.id, p.role])).toEqual([
    ["100000000000001@lid", "superadmin"],
    ["100000000000002@lid", "member"],
    ["100000000000009@lid", "member"],
  ]);
  expect(g.size).toBe(3);
  expect(await groups.applyParticipants(s, "120363049999999999@g.us", "add", [{ id: "1@lid", phoneNumber: null }], isMe, [])).toBe(false);
});

test("a sync forgets the groups it does not list, each with its events, and keeps the rest", async () => {
  const s = await session();
  await groups.upsert(s, group());
  await groups.upsert(s, group({ id: "120363040000000002@g.us", subject: "Gone" }));
  const gone = await groups.keepOnly(s, [group().id], (groupId) => [{ event: "group.left", data: { groupId, by: null } }]);
  expect(gone).toEqual(["120363040000000002@g.us"]);
  expect((await groups.list(s.id)).map((g) => g.id)).toEqual([group().id]);
  const left = (await deliveries.openOfMany([s.id], 10)).filter((d) => d.event === "group.left");
  expect(left.map((d) => JSON.parse(d.body).data)).toEqual([{ groupId: "120363040000000002@g.us", by: null }]);
  // A version moves with each write.
  const before = await groups.versionOf(s.id, group().id);
  await groups.applyChanges(s, group().id, { subject: "Renamed" }, []);
  expect(await groups.versionOf(s.id, group().id)).not.toBe(before);
});
