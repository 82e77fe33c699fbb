// TypeBox schemas of the sessions routes, requests and responses side by side: they validate
// requests, type handlers and document the OpenAPI at /swagger from one definition.
import { t } from "elysia";
import {
  ChatReportSchema,
  ContactReportSchema,
  MAX_FILE_NAME_LENGTH,
  MAX_GROUP_CHANGE,
  MAX_CONTACT_CARDS,
  MAX_MENTIONS,
  MAX_POLL_OPTIONS,
  MAX_TEXT_LENGTH,
  MAX_VCARD_LENGTH,
  NO_NUL,
} from "../../channel/frames";
import { groupRoles, participantActions } from "../../model/groups";
import { mediaStates } from "../../model/messages";
import { messageStatuses } from "../../model/messages";
import { deliveryStatuses } from "../../model/webhook-events";
import { sessionStates } from "../../model/session-states";

export const MAX_METADATA_BYTES = 16 * 1024;
export const MAX_METADATA_DEPTH = 8;

export const State = t.UnionEnum([...sessionStates], { description: "Session state" });
const IsoDate = t.String({ format: "date-time", examples: ["2026-01-28T10:00:00.000Z"] });
const Metadata = t.Nullable(JsonObjectSchema("Custom metadata given at create"));

/** The longest URL a field takes (browsers and proxies agree on about this much). */
export const MAX_URL_LENGTH = 2048;

const PROXY_DESCRIPTION =
  "The session's proxy: socks5://user:pass@host:port or http://user:pass@host:port (HTTP CONNECT), credentials optional, a port required; null for none. No loopback or private host unless ALLOW_PRIVATE_ADDRESSES. Every connection the session makes to WhatsApp goes through it, never around it; answered only masked";
const ProxyShown = t.Nullable(t.String({ description: "The session's proxy, masked (socks5://user:***@host:port); null for none" }));

/**
 * Any JSON object (arrays, null and scalars are refused), typed as a record. Not t.Record:
 * that emits `patternProperties`, which OpenAPI 3.0 does not have; this validates the same.
 */
export function JsonObjectSchema(description: string) {
  return t.Unsafe<Record<string, unknown>>(t.Object({}, { additionalProperties: true, description }));
}

export const CreateBody = t.Object(
  {
    name: t.String({ pattern: "^[A-Za-z0-9._-]{1,64}$", description: "Unique name: 1-64 letters, digits, '.', '_' or '-'" }),
    webhookUrl: t.Optional(t.String({ maxLength: MAX_URL_LENGTH, description: "http or https URL that receives webhook events (at most 2,048 characters)" })),
    metadata: t.Optional(JsonObjectSchema("JSON object, at most 16 KiB")),
    proxy: t.Optional(t.Nullable(t.String({ maxLength: MAX_URL_LENGTH, description: PROXY_DESCRIPTION }))),
  },
  { additionalProperties: false },
);


/** Described once: the OpenAPI document gives it to every route's {id}. */
export const SESSION_ID_DESCRIPTION = "Session id (UUID)";
const SessionId = t.String({ description: SESSION_ID_DESCRIPTION });
export const CheckNumberParams = t.Object({
  id: SessionId,
  phone: t.String({ maxLength: 32, description: "Phone number with country code, digits only after an optional +" }),
});
export const PairingCodeBody = t.Object(
  { phoneNumber: t.String({ maxLength: 32, description: "Phone number with country code to link by code" }) },
  { additionalProperties: false },
);
export const QrQuery = t.Object({ format: t.Optional(t.UnionEnum(["json", "png"])) });

export const CreatedSession = t.Object({ id: t.String({ format: "uuid" }), name: t.String(), state: State, createdAt: IsoDate, proxy: ProxyShown });

export const CreateResponse = t.Object({
  success: t.Literal(true),
  session: CreatedSession,
  apiKey: t.String({ pattern: "^wask_[0-9a-f]{48}$" }),
  warning: t.String(),
  /** An addition to the contract: the session's webhook signing secret, shown once like the key. */
  webhookSecret: t.String({ pattern: "^whsec_", description: "Standard Webhooks secret of this session's webhooks (shown once)" }),
});

export const SessionPatchBody = t.Object(
  {
    webhookUrl: t.Optional(t.Nullable(t.String({ maxLength: MAX_URL_LENGTH, description: "http or https URL (at most 2,048 characters); null removes the webhook" }))),
    webhookEvents: t.Optional(t.Nullable(t.Array(t.String({ maxLength: 64 }), { maxItems: 32, description: "Events to receive; null (or never set): every event" }))),
    metadata: t.Optional(JsonObjectSchema("JSON object, at most 16 KiB; replaces the old one")),
    proxy: t.Optional(t.Nullable(t.String({ maxLength: MAX_URL_LENGTH, description: `${PROXY_DESCRIPTION}. Changing it restarts a running sandbox with the new route (no new QR)` }))),
  },
  { additionalProperties: false },
);

const summaryFields = {
  id: t.String({ format: "uuid" }),
  name: t.String(),
  state: State,
  phoneNumber: t.Nullable(t.String()),
  createdAt: IsoDate,
  metadata: Metadata,
};

/** A session in the list; its status adds when it was last active, why it is in its state, and its proxy. */
const statusFields = {
  ...summaryFields,
  lastActivity: IsoDate,
  reason: t.Nullable(t.String({ description: "Why the session is in its state, when known (while disconnected, the latest failed attempt: proxy unreachable, proxy authentication failed, …)" })),
  proxy: ProxyShown,
  node: t.String({ description: "The node (API process with its own Podman) that runs the session: GET /nodes lists them" }),
};
export const SessionStatus = t.Object(statusFields);
/** What PATCH answers: the status plus the webhook's settings. */
export const SessionSettings = t.Object({
  ...statusFields,
  webhookUrl: t.Nullable(t.String()),
  webhookEvents: t.Nullable(t.Array(t.String(), { description: "null: every event" })),
  webhookDisabledReason: t.Nullable(t.String({ description: "Why deliveries stopped (410 Gone); cleared by setting webhookUrl" })),
});
export const SessionSettingsResponse = t.Object({ success: t.Literal(true), session: SessionSettings });
export const WebhookSecretResponse = t.Object({ success: t.Literal(true), webhookSecret: t.String({ pattern: "^whsec_" }) });

const Delivery = t.Object({
  id: t.String(),
  event: t.String(),
  status: t.UnionEnum([...deliveryStatuses]),
  attempts: t.Integer(),
  lastStatus: t.Nullable(t.Integer({ description: "HTTP status of the last attempt" })),
  lastError: t.Nullable(t.String()),
  nextAttemptAt: t.Nullable(IsoDate),
  createdAt: IsoDate,
});
export const DeliveriesResponse = t.Object({ success: t.Literal(true), deliveries: t.Array(Delivery) });
export const DeliveryResponse = t.Object({ success: t.Literal(true), delivery: Delivery });
export const DeliveriesQuery = t.Object({ limit: t.Optional(t.Integer({ minimum: 1, maximum: 500, default: 50 })) });
export const DeliveryParams = t.Object({ id: SessionId, deliveryId: t.String({ maxLength: 64, pattern: NO_NUL, description: "Id of a delivery, from the deliveries list" }) }, { additionalProperties: true });

export const StatusResponse = t.Object({ success: t.Literal(true), session: SessionStatus });
/** The list answers each session's last activity too (the dashboard shows it). */
export const ListResponse = t.Object({ success: t.Literal(true), sessions: t.Array(SessionStatus) });

export const MessageResponse = t.Object({ success: t.Literal(true), message: t.String() });
export const QrResponse = t.Object({ success: t.Literal(true), qr: t.String() });
export const CheckNumberResponse = t.Object({ success: t.Literal(true), exists: t.Boolean(), jid: t.Nullable(t.String()) });
export const PairingCodeResponse = t.Object({ success: t.Literal(true), code: t.String() });

/** Contacts and chats answer what the sandbox reported, in the channel's own shapes. */
export const ContactsResponse = t.Object({ success: t.Literal(true), contacts: t.Array(ContactReportSchema) });

/** A stored chat always has a count (a report may leave it unknown). */
export const ChatsResponse = t.Object({
  success: t.Literal(true),
  chats: t.Array(
    t.Composite([
      t.Omit(ChatReportSchema, ["unreadCount"]),
      t.Object({
        unreadCount: t.Integer(),
        lastMessage: t.Optional(
          t.Object(
            {
              id: t.String(),
              type: t.String(),
              text: t.Nullable(t.String({ description: "A preview (100 characters) of its text, caption, poll question, place or card name" })),
              fromMe: t.Boolean(),
              timestamp: t.Integer(),
            },
            { description: "The chat's last stored message (absent while none is stored)" },
          ),
        ),
      }),
    ]),
  ),
});

export const EventsResponse = t.Object({
  success: t.Literal(true),
  events: t.Array(
    t.Object({
      from: t.Nullable(State),
      to: State,
      reason: t.Nullable(t.String({ description: "Why the state changed, when known" })),
      at: IsoDate,
    }),
  ),
});

export const ErrorResponse = t.Object(
  {
    success: t.Literal(false),
    error: t.String({ description: "What went wrong, for people" }),
    code: t.String({ description: "Machine-readable error code" }),
  },
  { additionalProperties: true },
);

/** What a route that asks the sandbox may answer besides: the sandbox failed (502) or took too long (504). */
export const sandboxErrors = { 502: ErrorResponse, 504: ErrorResponse };

/** The error answers every authenticated route can give, for the OpenAPI document. */
export const authErrors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  429: ErrorResponse,
  503: ErrorResponse,
} as const;

const LocationBody = t.Object(
  {
    latitude: t.Number({ minimum: -90, maximum: 90 }),
    longitude: t.Number({ minimum: -180, maximum: 180 }),
    name: t.Optional(t.String({ maxLength: 256, pattern: NO_NUL })),
    address: t.Optional(t.String({ maxLength: 1024, pattern: NO_NUL })),
  },
  { additionalProperties: false },
);

export const SendBody = t.Object(
  {
    to: t.String({ minLength: 1, maxLength: 128, description: "Phone number with country code, or a jid" }),
    type: t.Optional(t.UnionEnum(["text", "image", "video", "audio", "voice", "document", "sticker", "location", "contact", "poll"], { description: "The message's kind; `text` when left out" })),
    text: t.Optional(t.String({ minLength: 1, maxLength: MAX_TEXT_LENGTH, pattern: NO_NUL, description: "A text message's text: 1 to 65,536 characters" })),
    media: t.Optional(
      t.Union(
        [
          t.Object({ data: t.String({ minLength: 1, description: "The file as base64 (at most MEDIA_MAX_BYTES once decoded)" }) }, { additionalProperties: false }),
          t.Object(
            {
              url: t.String({
                minLength: 1,
                maxLength: 2048,
                description: "An http(s) URL the API fetches (no loopback, private, link-local or metadata address unless ALLOW_PRIVATE_ADDRESSES; at most 3 redirects, each checked; MEDIA_FETCH_TIMEOUT_MS)",
              }),
            },
            { additionalProperties: false },
          ),
        ],
        { description: "A media message's file: `{ data }` (base64) or `{ url }`; or send the body as multipart/form-data with a `file` part instead" },
      ),
    ),
    caption: t.Optional(t.String({ maxLength: MAX_TEXT_LENGTH, pattern: NO_NUL, description: "An image's, video's or document's caption" })),
    fileName: t.Optional(t.String({ minLength: 1, maxLength: MAX_FILE_NAME_LENGTH, pattern: "^[^\\u0000/\\\\]+$", description: "A document's file name (default `file`)" })),
    mimetype: t.Optional(t.String({ minLength: 3, maxLength: 255, pattern: "^[\\x21-\\x7e][\\x20-\\x7e]*$", description: "Taken from the bytes when left out; one they contradict is 422 MEDIA_TYPE_MISMATCH" })),
    replyTo: t.Optional(t.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9_.:-]+$", description: "Id of the message this replies to" })),
    mentions: t.Optional(
      t.Array(t.String({ maxLength: 64 }), { maxItems: MAX_MENTIONS, description: "Members a text or caption mentions: phone numbers or jids (put @<number> in the text where WhatsApp shows it)" }),
    ),
    location: t.Optional(LocationBody),
    contacts: t.Optional(
      t.Array(
        t.Object(
          { name: t.String({ minLength: 1, maxLength: 256, pattern: NO_NUL }), phoneNumber: t.String({ maxLength: 32, description: "With country code" }) },
          { additionalProperties: false },
        ),
        { minItems: 1, maxItems: MAX_CONTACT_CARDS, description: "Contact cards: the API makes each one's vCard" },
      ),
    ),
    vcard: t.Optional(t.String({ minLength: 1, maxLength: MAX_VCARD_LENGTH, pattern: "^BEGIN:VCARD[\\s\\S]*END:VCARD\\s*$", description: "One contact card as a raw vCard, sent as it is (instead of `contacts`)" })),
    poll: t.Optional(
      t.Object(
        {
          question: t.String({ minLength: 1, maxLength: 255, pattern: NO_NUL }),
          options: t.Array(t.String({ minLength: 1, maxLength: 100, pattern: NO_NUL }), { minItems: 2, maxItems: MAX_POLL_OPTIONS, description: "2 to 12, all different" }),
          multiple: t.Optional(t.Boolean({ description: "Whether a voter may choose several (default false)" })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);


/** The same send as a form: its fields as text, the file as the `file` part (documented in Swagger; read by form-body.ts). */
export const SendForm = t.Object(
  {
    file: t.File({ description: "The file (at most MEDIA_MAX_BYTES)" }),
    to: t.String({ description: "Phone number with country code, or a jid" }),
    type: t.UnionEnum(["image", "video", "audio", "voice", "document", "sticker"]),
    caption: t.Optional(t.String({ description: "An image's, video's or document's caption" })),
    fileName: t.Optional(t.String({ description: "A document's file name (default the part's file name, else `file`)" })),
    mimetype: t.Optional(t.String({ description: "Taken from the bytes when left out; one they contradict is 422 MEDIA_TYPE_MISMATCH" })),
    replyTo: t.Optional(t.String({ description: "Id of the message this replies to" })),
  },
  { additionalProperties: false },
);

export const Message = t.Object({
  id: t.String({ description: "WhatsApp's id of the message" }),
  chatId: t.String({ description: "The chat's jid" }),
  fromMe: t.Boolean(),
  type: t.String({ description: "text, image, video, audio, voice, document, sticker, location, contact or poll" }),
  text: t.Nullable(t.String({ description: "A text message's text; null for media" })),
  replyTo: t.Nullable(t.String()),
  status: t.UnionEnum([...messageStatuses]),
  timestamp: t.Integer({ description: "Seconds since the epoch" }),
  author: t.Optional(t.String({ description: "In a group, who wrote it: a phone number where known, else the member's jid (absent for the account's own)" })),
  mentions: t.Optional(t.Array(t.String(), { description: "Members the text or caption mentions: phone numbers where known, else jids" })),
  location: t.Optional(LocationBody),
  contacts: t.Optional(t.Array(t.Object({ name: t.String(), phoneNumber: t.Nullable(t.String()) }), { description: "A contact message's cards (read from their vCards)" })),
  poll: t.Optional(
    t.Object({
      question: t.String(),
      options: t.Array(t.String()),
      multiple: t.Boolean(),
      votes: t.Array(t.Object({ option: t.String(), voters: t.Array(t.String({ description: 'A phone number where known, else a jid; "me" for the account' })) }), {
        description: "Every option in order, with its voters now",
      }),
    }),
  ),
  reactions: t.Optional(
    t.Array(t.Object({ from: t.String({ description: 'A phone number where known, else a jid; "me" for the account' }), emoji: t.String(), timestamp: t.Integer() }), {
      description: "One per sender, the latest",
    }),
  ),
  editedAt: t.Optional(IsoDate),
  revoked: t.Optional(t.Literal(true, { description: "Deleted for everyone: text, caption and file are gone" })),
  caption: t.Optional(t.Nullable(t.String({ description: "A media message's caption" }))),
  media: t.Optional(
    t.Object(
      {
        mimetype: t.String(),
        size: t.Integer({ description: "Bytes" }),
        sha256: t.String({ description: "Lowercase hex of the bytes" }),
        fileName: t.Optional(t.String()),
        width: t.Optional(t.Integer()),
        height: t.Optional(t.Integer()),
        seconds: t.Optional(t.Integer()),
        state: t.UnionEnum([...mediaStates], { description: "pending until stored; failed with a reason; expired once removed" }),
        reason: t.Optional(t.String()),
        url: t.String({ description: "The API's route of the bytes (GET with the session's key; Range supported)" }),
      },
      { description: "A media message's file (never the bytes)" },
    ),
  ),
});
export const MessageResultResponse = t.Object({ success: t.Literal(true), message: Message });
export const MessagesResponse = t.Object({
  success: t.Literal(true),
  messages: t.Array(Message),
  nextCursor: t.Nullable(t.String({ description: "Pass as `before` for the next (older) page" })),
});
export const MessagesQuery = t.Object({
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 200, default: 50 })),
  before: t.Optional(t.String({ maxLength: 300 })),
});
export const MessageParams = t.Object({ id: SessionId, messageId: t.String({ maxLength: 128, pattern: NO_NUL, description: "WhatsApp's id of the message" }) }, { additionalProperties: true });
export const ChatParams = t.Object({ id: SessionId, chatId: t.String({ maxLength: 128, description: "Phone number with country code, or the chat's jid" }) }, { additionalProperties: true });
export const ReadResponse = t.Object({ success: t.Literal(true), read: t.Integer({ description: "Incoming messages marked read" }) });

// ---- groups ---------------------------------------------------------------------------------

export const GroupParams = t.Object(
  { id: SessionId, groupId: t.String({ maxLength: 128, description: "The group's jid, `<digits>@g.us` or `<digits>-<digits>@g.us` (percent-encoded or not)" }) },
  { additionalProperties: true },
);
const Member = t.String({ maxLength: 64, description: "A phone number with country code, or a user's jid" });
const Subject = t.String({ minLength: 1, maxLength: 100, pattern: NO_NUL, description: "The group's name (1 to 100 characters)" });
const Description = t.String({ maxLength: 2048, pattern: NO_NUL, description: "The group's description (at most 2,048 characters; \"\" removes it)" });
export const GroupCreateBody = t.Object(
  {
    subject: Subject,
    participants: t.Array(Member, { minItems: 1, maxItems: MAX_GROUP_CHANGE, description: "The members besides the account" }),
    description: t.Optional(Description),
  },
  { additionalProperties: false },
);
export const GroupPatchBody = t.Object(
  {
    subject: t.Optional(Subject),
    description: t.Optional(Description),
    announce: t.Optional(t.Boolean({ description: "Only admins send" })),
    locked: t.Optional(t.Boolean({ description: "Only admins edit the group's info" })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const ParticipantsBody = t.Object(
  {
    action: t.UnionEnum([...participantActions]),
    participants: t.Array(Member, { minItems: 1, maxItems: MAX_GROUP_CHANGE }),
  },
  { additionalProperties: false },
);
export const JoinBody = t.Object({ code: t.String({ minLength: 1, maxLength: 128, description: "The invite code, or the whole https://chat.whatsapp.com/<code> link" }) }, { additionalProperties: false });

const GroupFields = {
  id: t.String({ description: "The group's jid" }),
  subject: t.String(),
  description: t.Nullable(t.String()),
  owner: t.Nullable(t.String({ description: "The creator: a phone number where known, else its jid" })),
  createdAt: t.Nullable(IsoDate),
  size: t.Integer({ description: "How many members" }),
  announce: t.Boolean({ description: "Only admins send" }),
  locked: t.Boolean({ description: "Only admins edit the group's info" }),
  isAdmin: t.Boolean({ description: "Whether the account is an admin (or the superadmin)" }),
};
export const GroupSummary = t.Object(GroupFields);
export const Group = t.Object({
  ...GroupFields,
  participants: t.Array(
    t.Object({
      id: t.String({ description: "The member's jid: `<lid>@lid` or `<phone>@s.whatsapp.net`" }),
      phoneNumber: t.Nullable(t.String({ description: "Where known" })),
      role: t.UnionEnum([...groupRoles]),
    }),
  ),
});
export const GroupsResponse = t.Object({ success: t.Literal(true), groups: t.Array(GroupSummary) });
export const GroupResponse = t.Object({ success: t.Literal(true), group: Group });
const ParticipantResults = t.Array(
  t.Object({
    participant: t.String({ description: "As the request named it" }),
    status: t.String({ description: "`ok`, or WhatsApp's reason: not_on_whatsapp, privacy_restricted, already_a_member, not_a_member, recently_left, group_full, not_added, …" }),
  }),
);
export const GroupCreatedResponse = t.Object({ success: t.Literal(true), group: Group, results: ParticipantResults });
export const ParticipantsResponse = t.Object({ success: t.Literal(true), results: ParticipantResults });
export const InviteResponse = t.Object({ success: t.Literal(true), code: t.String(), url: t.String({ description: "https://chat.whatsapp.com/<code>" }) });
export const LeaveResponse = t.Object({ success: t.Literal(true) });

// ---- the rest of a conversation -------------------------------------------------------------

export const ReactionBody = t.Object({ emoji: t.String({ maxLength: 32, description: 'One emoji; "" removes the account\'s reaction' }) }, { additionalProperties: false });
export const EditBody = t.Object({ text: t.String({ minLength: 1, maxLength: MAX_TEXT_LENGTH, pattern: NO_NUL }) }, { additionalProperties: false });
export const ChatPresenceBody = t.Object({ state: t.String({ maxLength: 32, description: "composing, recording or paused" }) }, { additionalProperties: false });
export const PresenceBody = t.Object({ state: t.String({ maxLength: 32, description: "available or unavailable" }) }, { additionalProperties: false });
export const SuccessResponse = t.Object({ success: t.Literal(true) });
