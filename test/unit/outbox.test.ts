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

async function session(fields: { webhookUrl?: string | null; webhookEvents?: string[] | null } = {}) {
  const id = randomUUID();
  await repo.insert({ id, name: `o-${id.slice(0, 8)}`, state: "ready", keyHash: randomUUID(), webhookUrl: "http://127.0.0.1:9/h", ...fields });
  return id;
}

test("events are written only for a webhook that wants them", async () => {
  const none = await session({ webhookUrl: null });
  const stateOnly = await session({ webhookEvents: ["session.state"] });
  await repo.update(none, { stateReason: "x" }, [event]);
  await repo.update(stateOnly, { stateReason: "x" }, [event, { event: "session.qr", data: { qr: "q" } }]);
  expect(await deliveries.openOf(none, 10)).toHaveLength(0);
  const open = await deliveries.openOf(stateOnly, 10);
  expect(open.map((d) => d.event)).toEqual(["session.state"]);
  expect(JSON.parse(open[0]!.body)).toMatchObject({ id: open[0]!.id, event: "session.state", sessionId: stateOnly, data: { state: "ready" } });
});

test("a state change refused by its compare-and-set writes no event", async () => {
  const id = await session();
  expect(await repo.transition(id, "stopped", "starting", null, {}, { events: [event] })).toBeNull();
  expect(await deliveries.openOf(id, 10)).toHaveLength(0);
});

test("delivered rows older than the keep time are pruned; open and recent ones stay", async () => {
  const id = await session();
  await repo.update(id, {}, [event, event, event]);
  const [old, recent, open] = await deliveries.openOf(id, 10);
  await deliveries.delivered([old!.id, recent!.id], 200);
  await db.db.update(webhookDeliveries).set({ deliveredAt: new Date(Date.now() - 8 * 86_400_000) }).where(eq(webhookDeliveries.id, old!.id));
  expect(await deliveries.prune(new Date(Date.now() - 7 * 86_400_000))).toBe(1);
  const left = (await deliveries.list(id, 10)).map((d) => d.id);
  expect(left.sort()).toEqual([recent!.id, open!.id].sort());
});
