// The webhook outbox's writes: events go in with the change that caused them, in the same
// transaction, so a change is never stored without its event nor an event without its change.
import { randomBytes } from "node:crypto";
import { sql, type WithSubquery } from "drizzle-orm";
import type { Db } from "./client";
import { optInEvents, wants, type WebhookEvent } from "../model/webhook-events";
import { sessions, webhookDeliveries, type SessionRow } from "./schema";

export interface OutboxEvent {
  event: WebhookEvent;
  data: Record<string, unknown>;
}

/** Events for a row: given as they are, or made from the row the change produced. */
export type OutboxEvents = OutboxEvent[] | ((row: SessionRow) => OutboxEvent[]);

type Tx = Pick<Db, "insert">;

/**
 * An event's body around the session's name, which the one-statement write takes from the row:
 * `head + JSON name + tail` is the body. Standard Webhooks ids are unique per message and
 * stable across retries; the body is fixed now, so retries send the same bytes.
 */
function bodyParts(sessionId: string, e: OutboxEvent, at: string) {
  const id = `msg_${randomBytes(16).toString("hex")}`;
  const head = `{"id":"${id}","event":"${e.event}","sessionId":"${sessionId}","sessionName":`;
  return { id, head, tail: `,"timestamp":"${at}","data":${JSON.stringify(e.data)}}` };
}

/** Writes the session's wanted events; returns how many. */
export async function enqueueIn(tx: Tx, session: SessionRow, events: OutboxEvents | undefined): Promise<number> {
  if (!events || !session.webhookUrl || session.webhookDisabledReason) return 0;
  const list = (typeof events === "function" ? events(session) : events).filter((e) => wants(session, e.event));
  if (list.length === 0) return 0;
  const now = new Date();
  const name = JSON.stringify(session.name);
  await tx.insert(webhookDeliveries).values(
    list.map((e) => {
      const { id, head, tail } = bodyParts(session.id, e, now.toISOString());
      return { id, sessionId: session.id, event: e.event, body: head + name + tail, createdAt: now, nextAttemptAt: now };
    }),
  );
  return list.length;
}

/**
 * The outbox half of a change made in one statement (no transaction: one round trip instead of
 * four). `changed` is the change, a CTE of the same statement; the events are written only when
 * it changed a row, and only those the session's webhook wants, judged on its row in the database.
 * A change that locks the session's row (or one of its rows) orders its events as a transaction
 * would. Built with placeholders for `count` events, so a prepared statement serves every call;
 * `outboxValues` fills them. No events, no CTE.
 */
export function outboxWith(db: Db, changed: WithSubquery, count: number): WithSubquery[] {
  if (count === 0) return [];
  const p = (name: string) => sql.placeholder(name);
  const rows = Array.from({ length: count }, (_, i) => sql`(${p(`e${i}Id`)}, ${p(`e${i}Event`)}, ${p(`e${i}Head`)}, ${p(`e${i}Tail`)})`);
  const outbox = db.$with("outbox", {}).as(sql`insert into ${webhookDeliveries} (id, session_id, event, body, created_at, next_attempt_at)
    select v.id, s.id, v.event, v.head || to_json(s.name)::text || v.tail, ${p("outboxAt")}::timestamptz, ${p("outboxAt")}::timestamptz
    from (values ${sql.join(rows, sql`, `)}) as v(id, event, head, tail)
    join ${sessions} s on s.id = ${p("outboxSession")}::uuid
    where exists (select 1 from ${changed})
      and s.webhook_url is not null and s.webhook_disabled_reason is null
      and (case when s.webhook_events is null then v.event <> all(${p("optIn")}::text[]) else v.event = any(s.webhook_events) end)`);
  return [outbox];
}

/** The values of `outboxWith`'s placeholders for these events. */
export function outboxValues(sessionId: string, events: OutboxEvent[]): Record<string, string | string[]> {
  const at = new Date().toISOString();
  const values: Record<string, string | string[]> = { outboxAt: at, outboxSession: sessionId, optIn: [...optInEvents] };
  events.forEach((e, i) => {
    const { id, head, tail } = bodyParts(sessionId, e, at);
    Object.assign(values, { [`e${i}Id`]: id, [`e${i}Event`]: e.event, [`e${i}Head`]: head, [`e${i}Tail`]: tail });
  });
  return values;
}
