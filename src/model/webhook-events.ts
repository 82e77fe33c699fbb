// What a session's webhook can receive, which of it a session takes, and what becomes of each
// delivery.

/** Events a webhook can receive (subscriptions name these). */
export const webhookEvents = [
  "session.state",
  "session.qr",
  "session.contacts",
  "session.chats",
  "message.received",
  "message.status",
  "group.joined",
  "group.update",
  "group.participants",
  "group.left",
  "message.reaction",
  "message.edited",
  "message.revoked",
  "poll.vote",
  "presence.update",
] as const;
export type WebhookEvent = (typeof webhookEvents)[number];

export function isWebhookEvent(name: string): name is WebhookEvent {
  return (webhookEvents as readonly string[]).includes(name);
}

/** A session's webhook as far as the filter needs it. */
export interface WebhookSubscription {
  webhookUrl: string | null;
  webhookDisabledReason: string | null;
  /** null: every event. */
  webhookEvents: string[] | null;
}

/** Events so chatty that only a webhook naming them gets them: "every event" (null) leaves them out. */
export const optInEvents: readonly WebhookEvent[] = ["presence.update"];

/** Whether the session's webhook takes this event now. */
export function wants(session: WebhookSubscription, event: WebhookEvent): boolean {
  if (!session.webhookUrl || session.webhookDisabledReason) return false;
  return session.webhookEvents === null ? !optInEvents.includes(event) : session.webhookEvents.includes(event);
}

/** A delivery: waiting, delivered, failed (retried later) or dead (given up, or its receiver gone). */
export const deliveryStatuses = ["pending", "delivered", "failed", "dead"] as const;
export type DeliveryStatus = (typeof deliveryStatuses)[number];
