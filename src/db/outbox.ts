// The webhook outbox's writes: events go in with the change that caused them, in the same
// transaction, so a change is never stored without its event nor an event without its change.
import { randomBytes } from "node:crypto";
import type { Db } from "./client";
import { webhookDeliveries, type SessionRow } from "./schema";

/** Events a webhook can receive (subscriptions name these). */
export const webhookEvents = ["session.state", "session.qr", "session.contacts", "session.chats", "message.received", "message.status"] as const;
export type WebhookEvent = (typeof webhookEvents)[number];

export interface OutboxEvent {
  event: WebhookEvent;
  data: Record<string, unknown>;
}

/** Events for a row: given as they are, or made from the row the change produced. */
export type OutboxEvents = OutboxEvent[] | ((row: SessionRow) => OutboxEvent[]);

type Tx = Pick<Db, "insert">;

/** Whether the session's webhook takes this event now. */
export function wants(session: SessionRow, event: WebhookEvent): boolean {
  if (!session.webhookUrl || session.webhookDisabledReason) return false;
  return session.webhookEvents === null || session.webhookEvents.includes(event);
}

/** Writes the session's wanted events; returns how many. The body is fixed now, so retries send the same bytes. */
export async function enqueueIn(tx: Tx, session: SessionRow, events: OutboxEvents | undefined): Promise<number> {
  if (!events || !session.webhookUrl || session.webhookDisabledReason) return 0;
  const list = (typeof events === "function" ? events(session) : events).filter((e) => wants(session, e.event));
  if (list.length === 0) return 0;
  const now = new Date();
  await tx.insert(webhookDeliveries).values(
    list.map((e) => {
      // Standard Webhooks ids: unique per message, stable across retries.
      const id = `msg_${randomBytes(16).toString("hex")}`;
      const body = JSON.stringify({ id, event: e.event, sessionId: session.id, sessionName: session.name, timestamp: now.toISOString(), data: e.data });
      return { id, sessionId: session.id, event: e.event, body, createdAt: now, nextAttemptAt: now };
    }),
  );
  return list.length;
}
