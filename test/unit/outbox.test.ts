// The outbox's rules on in-memory PGlite: events only for a session whose webhook wants them,
// written with the change or not at all, and delivered rows pruned after their time.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { openDatabase, type Database } from "../../src/db/client";
import { DeliveryRepository } from "../../src/db/delivery-repository";
import { webhookDeliveries } from "../../src/db/schema";
import { SessionRepository } from "../../src/db/session-repository";

let db: Database;
let repo: SessionRepository;
let deliveries: DeliveryRepository;
beforeAll(async () => {
  db = await openDatabase({ dataDir: null });
  repo = new SessionRepository(db.db);
  deliveries = new DeliveryRepository(db.db);
});
afterAll(() => db.close());

const event = { event: "session.state" as const, data: { state: "ready" } };

async function session(fields: { name?: string; webhookUrl?: string | null; webhookEvents?: string[] | null; webhookDisabledReason?: string } = {}) {
  const id = randomUUID();
  await repo.insert({ id, name: `o-${id.slice(0, 8)}`, state: "ready", keyHash: randomUUID(), webhookUrl: "http://127.0.0.1:9/h", ...fields });
  return id;
}

test("events are written only for a webhook that wants them", async () => {
  const none = await session({ webhookUrl: null });
  const stateOnly = await session({ webhookEvents: ["session.state"] });
  await repo.update(none, { stateReason: "x" }, [event]);
  await repo.update(stateOnly, { stateReason: "x" }, [event, { event: "session.qr", data: { qr: "q" } }]);
  expect(await deliveries.openOfMany([none], 10)).toHaveLength(0);
  const open = await deliveries.openOfMany([stateOnly], 10);
  expect(open.map((d) => d.event)).toEqual(["session.state"]);
  expect(JSON.parse(open[0]!.body)).toMatchObject({ id: open[0]!.id, event: "session.state", sessionId: stateOnly, data: { state: "ready" } });
});

test("a disabled webhook gets nothing; the body written with the change is the JSON the spec names, whatever the session's name", async () => {
  const disabled = await session({ webhookDisabledReason: "410" });
  await repo.update(disabled, { stateReason: "x" }, [event]);
  expect(await deliveries.openOfMany([disabled], 10)).toHaveLength(0);
  const name = `quote " back \\ tab \t ü ${randomUUID().slice(0, 4)}`;
  const id = await session({ name });
  const updated = await repo.update(id, { stateReason: "y" }, [event]);
  expect(updated?.stateReason).toBe("y");
  const [row] = await deliveries.openOfMany([id], 10);
  const body = JSON.parse(row!.body);
  expect(Object.keys(body)).toEqual(["id", "event", "sessionId", "sessionName", "timestamp", "data"]);
  expect(body).toEqual({ id: row!.id, event: "session.state", sessionId: id, sessionName: name, timestamp: row!.createdAt.toISOString(), data: { state: "ready" } });
  expect(await repo.update(randomUUID(), { stateReason: "z" }, [event])).toBeNull();
});

test("a state change refused by its compare-and-set writes no event", async () => {
  const id = await session();
  expect(await repo.transition(id, "stopped", "starting", null, {}, { events: [event] })).toBeNull();
  expect(await deliveries.openOfMany([id], 10)).toHaveLength(0);
});

test("delivered rows older than the keep time are pruned; open and recent ones stay", async () => {
  const id = await session();
  await repo.update(id, {}, [event, event, event]);
  const [old, recent, open] = await deliveries.openOfMany([id], 10);
  await deliveries.delivered([old!.id, recent!.id], 200);
  await db.db.update(webhookDeliveries).set({ deliveredAt: new Date(Date.now() - 8 * 86_400_000) }).where(eq(webhookDeliveries.id, old!.id));
  expect(await deliveries.prune(new Date(Date.now() - 7 * 86_400_000))).toBe(1);
  const left = (await deliveries.list(id, 10)).map((d) => d.id);
  expect(left.sort()).toEqual([recent!.id, open!.id].sort());
});

test("several sessions' open events in one read: oldest first, at most the limit each, none delivered", async () => {
  const a = await session();
  const b = await session();
  const quiet = await session();
  await repo.update(a, {}, [event, event, event]);
  await repo.update(b, {}, [event, event]);
  await repo.update(a, {}, [event]);
  const [first] = await deliveries.openOfMany([b], 1);
  await deliveries.delivered([first!.id], 204);
  const rows = await deliveries.openOfMany([a, b, quiet], 2);
  expect(rows.map((r) => r.sessionId)).toEqual([a, a, b]);
  expect(rows.map((r) => r.seq)).toEqual([...rows.map((r) => r.seq)].sort((x, y) => x - y));
  expect(rows.every((r) => r.status === "pending" && r.createdAt instanceof Date)).toBe(true);
  expect(rows.find((r) => r.id === first!.id)).toBeUndefined();
  expect(await deliveries.openOfMany([a], 10)).toHaveLength(4);
});

test("a message change that changes nothing writes no event: a status step back, an incoming message stored before", async () => {
  const { MessageRepository } = await import("../../src/db/message-repository");
  const messages = new MessageRepository(db.db);
  const id = await session();
  const row = (await repo.byId(id))!;
  const status = (s: string) => [{ event: "message.status" as const, data: { id: "OUT1", status: s } }];
  await messages.insertOutgoing(row, { id: "OUT1", chatId: "491@s.whatsapp.net", fromMe: true, type: "text", text: "x", status: "pending", timestamp: 1 });
  expect(await messages.setStatus(row, "OUT1", "delivered", {}, status("delivered"))).toMatchObject({ status: "delivered" });
  expect(await messages.setStatus(row, "OUT1", "sent", {}, status("sent"))).toBeNull();
  const incoming = { id: "IN1", chatId: "492@s.whatsapp.net", fromMe: false, type: "text" as const, text: "hi", status: "delivered" as const, timestamp: 5 };
  const received = [{ event: "message.received" as const, data: { id: "IN1" } }];
  expect(await messages.insertIncoming(row, incoming, received)).toBe(true);
  expect(await messages.insertIncoming(row, incoming, received)).toBe(false);
  expect((await deliveries.openOfMany([id], 10)).map((d) => d.event)).toEqual(["message.status", "message.received"]);
  expect((await repo.chats(id)).find((c) => c.id === "492@s.whatsapp.net")).toMatchObject({ unreadCount: 1, timestamp: 5, isGroup: false });
});

test("presence.update reaches only a webhook that lists it: every event (null) leaves it out", async () => {
  const every = await session({ webhookEvents: null });
  const listing = await session({ webhookEvents: ["presence.update"] });
  const presence = { event: "presence.update" as const, data: { chatId: "4915112345678@s.whatsapp.net", state: "composing" } };
  for (const id of [every, listing]) await repo.update(id, { stateReason: "x" }, [event, presence]);
  expect((await deliveries.openOfMany([every], 10)).map((d) => d.event)).toEqual(["session.state"]);
  expect((await deliveries.openOfMany([listing], 10)).map((d) => d.event)).toEqual(["presence.update"]);
});
