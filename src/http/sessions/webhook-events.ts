// The webhook events in the OpenAPI document: OpenAPI 3.0 describes requests the API makes to a
// URL its client gave as `callbacks` of the operation that takes the URL (create and PATCH), one
// per event, each with its body and the Standard Webhooks headers.
import { t, type TSchema } from "elysia";
import { ChatReportSchema, ContactReportSchema } from "../../channel/frames";
import type { WebhookEvent } from "../../model/webhook-events";
import { participantActions } from "../../model/groups";
import { messageStatuses } from "../../model/messages";

/** Who did it: a phone number where known, else the member's jid; null when WhatsApp did not say. */
const Actor = t.Nullable(t.String({ description: "A phone number where known, else the member's jid" }));
import { Message, State } from "./models";

/** What each event's `data` holds. */
const eventData: Record<WebhookEvent, { summary: string; data: TSchema }> = {
  "session.state": {
    summary: "The session's state changed",
    data: t.Object({ state: State, previousState: t.Nullable(State), reason: t.Nullable(t.String()), phoneNumber: t.Nullable(t.String()) }),
  },
  "session.qr": { summary: "A new QR code to link a phone", data: t.Object({ qr: t.String({ description: "The QR's text; render it or fetch GET /sessions/{id}/qr?format=png" }) }) },
  "session.contacts": {
    summary: "Contacts arrived or changed",
    data: t.Object({ count: t.Integer(), contacts: t.Array(ContactReportSchema, { description: "Those that changed" }) }),
  },
  "session.chats": {
    summary: "Chats arrived or changed",
    data: t.Object({ count: t.Integer(), chats: t.Array(ChatReportSchema, { description: "Those that changed" }) }),
  },
  "message.received": { summary: "A message came in, or the account's own phone sent one", data: Message },
  "message.status": {
    summary: "An outgoing message's status moved on",
    data: t.Object({ id: t.String(), chatId: t.String(), status: t.UnionEnum([...messageStatuses]) }),
  },
  "group.joined": {
    summary: "The account was added to a group, created one or joined one by link",
    data: t.Object({ groupId: t.String(), subject: t.String(), by: Actor }),
  },
  "group.update": {
    summary: "A group's settings changed",
    data: t.Object({
      groupId: t.String(),
      changes: t.Object({
        subject: t.Optional(t.String()),
        description: t.Optional(t.Nullable(t.String())),
        announce: t.Optional(t.Boolean()),
        locked: t.Optional(t.Boolean()),
      }, { description: "Only what changed" }),
      by: Actor,
    }),
  },
  "group.participants": {
    summary: "Members were added, removed, promoted or demoted",
    data: t.Object({
      groupId: t.String(),
      action: t.UnionEnum([...participantActions]),
      participants: t.Array(t.String(), { description: "Phone numbers where known, else the members' jids" }),
      by: Actor,
    }),
  },
  "group.left": { summary: "The account left a group or was removed from it", data: t.Object({ groupId: t.String(), by: Actor }) },
  "message.reaction": {
    summary: "Someone reacted to a stored message (or took the reaction back)",
    data: t.Object({
      id: t.String({ description: "The message reacted to" }),
      chatId: t.String(),
      from: t.String({ description: "A phone number where known, else the member's jid; \"me\" for the account's own phone" }),
      emoji: t.String({ description: "\"\" when the reaction was removed" }),
    }),
  },
  "message.edited": {
    summary: "A stored message's text (or caption) was edited by its sender",
    data: t.Object({ id: t.String(), chatId: t.String(), text: t.String(), editedAt: t.String({ format: "date-time" }) }),
  },
  "message.revoked": {
    summary: "A stored message was deleted for everyone at WhatsApp (not through this API): its content and file are gone",
    data: t.Object({ id: t.String(), chatId: t.String(), by: t.Nullable(t.String({ description: 'A phone number where known, else the member\'s jid; "me" for the account\'s own phone' })) }),
  },
  "poll.vote": {
    summary: "A vote on a stored poll: the voter's whole choice now",
    data: t.Object({
      id: t.String({ description: "The poll's message id" }),
      chatId: t.String(),
      voter: t.String({ description: "A phone number where known, else the member's jid; \"me\" for the account's own phone" }),
      options: t.Array(t.String(), { description: "Empty when the vote was taken back" }),
    }),
  },
  "presence.update": {
    summary: "A contact's presence or typing in a chat the session subscribed to (only to webhooks that list this event)",
    data: t.Object({
      chatId: t.String(),
      from: Actor,
      state: t.UnionEnum(["available", "unavailable", "composing", "recording", "paused"]),
      lastSeen: t.Optional(t.Integer({ description: "Seconds since the epoch, when WhatsApp says" })),
    }),
  },
};

const header = (name: string, description: string) => ({ name, in: "header" as const, required: true, description, schema: { type: "string" as const } });
const headers = [
  header("webhook-id", "The event's id (`msg_…`), the same on every retry: deduplicate by it"),
  header("webhook-timestamp", "Seconds since the epoch when this attempt was signed"),
  header("webhook-signature", "`v1,<base64 HMAC-SHA256>` with the session's `whsec_` secret (Standard Webhooks)"),
];

function body(event: WebhookEvent, data: TSchema) {
  return t.Object({
    id: t.String({ description: "Also the webhook-id header" }),
    event: t.Literal(event),
    sessionId: t.String({ format: "uuid" }),
    sessionName: t.String(),
    timestamp: t.String({ format: "date-time" }),
    data,
  });
}

/** `callbacks` for an operation that sets a session's `webhookUrl`. */
export const webhookCallbacks = Object.fromEntries(
  Object.entries(eventData).map(([event, { summary, data }]) => [
    event,
    {
      "{$request.body#/webhookUrl}": {
        post: {
          summary,
          description: `Sent when the session's webhook takes \`${event}\` (all events, or those in \`webhookEvents\`); in order per session, retried with backoff until WEBHOOK_RETRY_HOURS.`,
          parameters: headers,
          requestBody: { required: true, content: { "application/json": { schema: body(event as WebhookEvent, data) } } },
          responses: {
            "2XX": { description: "Taken" },
            "410": { description: "Gone: the session's webhook is disabled until its URL is set again" },
            default: { description: "Anything else is retried" },
          },
        },
      },
    },
  ]),
);
