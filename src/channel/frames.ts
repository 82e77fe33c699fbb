// The channel's wire format, imported by both the API and the sandbox so they cannot drift.
// One JSON object per WebSocket text frame. Each frame is a TypeBox schema and its type is
// derived from it: the sandbox runs next to the internet, so the API believes nothing a frame
// says until it matches, and every field is bounded so one frame cannot cost much to store.
import { Type, type Static, type TObject, type TSchema } from "@sinclair/typebox";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";

export const CHANNEL_AUDIENCE = "wa-sandbox-channel";
export const CHANNEL_ISSUER = "wa-session-api";
/** The sandbox connects to `${CHANNEL_PATH}/${sessionId}` with `Authorization: Bearer <jwt>`. */
export const CHANNEL_PATH = "/channel";

/** Largest frame either end accepts (the WebSocket server's maxPayloadLength too). */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Most contacts or chats in one report; the sandbox splits larger lists. */
export const MAX_SYNC_BATCH = 1000;
/** Most numbers in one check-number request. */
export const MAX_CHECK_PHONES = 50;

export const MAX_ID_LENGTH = 256;
export const MAX_NAME_LENGTH = 1024;
export const MAX_QR_LENGTH = 2048;
export const MAX_REASON_LENGTH = 1024;
export const MAX_ERROR_MESSAGE_LENGTH = 1024;
export const MAX_UNREAD_COUNT = 1_000_000;
export const MAX_TEXT_LENGTH = 65_536;
/** Most members one message mentions. */
export const MAX_MENTIONS = 1024;
/** Most message ids in one read request. */
export const MAX_READ_IDS = 1000;

const closed = { additionalProperties: false } as const;

/** A JID or similar identifier: printable ASCII, no spaces. */
const Jid = Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH, pattern: "^[\\x21-\\x7e]+$" });
/** Human text (names, reasons). No NUL: PostgreSQL refuses it in text and would wedge the report queue. */
/** Text PostgreSQL can store: no NUL (a 400 at the boundary, not a failed insert). */
export const NO_NUL = "^[^\\u0000]*$";
const text = (maxLength: number) => Type.String({ maxLength, pattern: NO_NUL });
const Phone = Type.String({ pattern: "^[0-9]{1,20}$" });
/** Short tokens of our own making: sandbox boot ids, request ids, error codes. */
const Tag = Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_.:-]+$" });
const Seq = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
const Timestamp = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Jwt = Type.String({ maxLength: 4096, pattern: "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$" });

export const ContactReportSchema = Type.Object(
  {
    id: Jid,
    name: Type.Union([text(MAX_NAME_LENGTH), Type.Null()]),
    notify: Type.Union([text(MAX_NAME_LENGTH), Type.Null()]),
    verifiedName: Type.Union([text(MAX_NAME_LENGTH), Type.Null()]),
    phone: Type.Union([Phone, Type.Null()]),
  },
  closed,
);
export type ContactReport = Static<typeof ContactReportSchema>;

export const ChatReportSchema = Type.Object(
  {
    id: Jid,
    name: Type.Union([text(MAX_NAME_LENGTH), Type.Null()]),
    isGroup: Type.Boolean(),
    /** null when the report does not know it (a partial update): the stored count stays. */
    unreadCount: Type.Union([Type.Integer({ minimum: 0, maximum: MAX_UNREAD_COUNT }), Type.Null()]),
    /** Seconds since the epoch of the chat's last message. */
    timestamp: Type.Union([Timestamp, Type.Null()]),
  },
  closed,
);
export type ChatReport = Static<typeof ChatReportSchema>;

/** WhatsApp's message ids (ours are made by the API, theirs come from other devices). */
const MessageId = Type.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9_.:-]+$" });
/** Message kinds the channel carries: text, media, and the rest of a conversation. */
export const MessageTypeSchema = Type.Union([
  Type.Literal("text"),
  Type.Literal("image"),
  Type.Literal("video"),
  Type.Literal("audio"),
  Type.Literal("voice"),
  Type.Literal("document"),
  Type.Literal("sticker"),
  Type.Literal("location"),
  Type.Literal("contact"),
  Type.Literal("poll"),
]);

/** Most cards in one contact message, options in one poll, characters of an option, a vCard, an emoji. */
export const MAX_CONTACT_CARDS = 64;
export const MAX_POLL_OPTIONS = 12;
export const MAX_OPTION_LENGTH = 256;
export const MAX_VCARD_LENGTH = 16 * 1024;
export const MAX_EMOJI_LENGTH = 32;

export const LocationSchema = Type.Object(
  {
    latitude: Type.Number({ minimum: -90, maximum: 90 }),
    longitude: Type.Number({ minimum: -180, maximum: 180 }),
    name: Type.Optional(text(MAX_NAME_LENGTH)),
    address: Type.Optional(text(MAX_NAME_LENGTH)),
  },
  closed,
);
export type Location = Static<typeof LocationSchema>;

export const ContactCardSchema = Type.Object(
  { name: text(MAX_NAME_LENGTH), phoneNumber: Type.Union([Type.String({ pattern: "^[0-9]{1,20}$" }), Type.Null()]) },
  closed,
);
export type ContactCard = Static<typeof ContactCardSchema>;

export const PollSchema = Type.Object(
  {
    question: text(MAX_NAME_LENGTH),
    options: Type.Array(text(MAX_OPTION_LENGTH), { minItems: 1, maxItems: MAX_POLL_OPTIONS }),
    multiple: Type.Boolean(),
  },
  closed,
);
export type Poll = Static<typeof PollSchema>;

/** Most characters of a media file's name. */
export const MAX_FILE_NAME_LENGTH = 255;
const Count = (maximum: number) => Type.Integer({ minimum: 0, maximum });

/** What a media message's file is: its type and size, and sha256 (hex) of the plain bytes. */
export const MediaInfoSchema = Type.Object(
  {
    mimetype: Type.String({ minLength: 1, maxLength: 255, pattern: "^[\\x21-\\x7e][\\x20-\\x7e]*$" }),
    size: Count(Number.MAX_SAFE_INTEGER),
    sha256: Type.String({ pattern: "^[0-9a-f]{64}$" }),
    fileName: Type.Optional(text(MAX_FILE_NAME_LENGTH)),
    width: Type.Optional(Count(100_000)),
    height: Type.Optional(Count(100_000)),
    seconds: Type.Optional(Count(10_000_000)),
  },
  closed,
);
export type MediaInfo = Static<typeof MediaInfoSchema>;
export const MessageStatusSchema = Type.Union([Type.Literal("sent"), Type.Literal("delivered"), Type.Literal("read"), Type.Literal("failed")]);

/** A message the account received or its phone sent, as the sandbox saw it. */
export const IncomingMessageSchema = Type.Object(
  {
    id: MessageId,
    chatId: Jid,
    fromMe: Type.Boolean(),
    type: MessageTypeSchema,
    /** The text of a text message; null for media (which may have a caption). */
    text: Type.Union([text(MAX_TEXT_LENGTH), Type.Null()]),
    caption: Type.Optional(text(MAX_TEXT_LENGTH)),
    /** A media message's file; its bytes follow over the channel's media upload (see hub.ts). */
    media: Type.Optional(MediaInfoSchema),
    /** Seconds since the epoch. */
    timestamp: Timestamp,
    replyTo: Type.Union([MessageId, Type.Null()]),
    location: Type.Optional(LocationSchema),
    contacts: Type.Optional(Type.Array(ContactCardSchema, { maxItems: MAX_CONTACT_CARDS })),
    poll: Type.Optional(PollSchema),
    /** In a group: who wrote it, a phone number where known, else the member's jid. */
    author: Type.Optional(Jid),
    /** Members a text or caption mentions (phone numbers where known, else jids). */
    mentions: Type.Optional(Type.Array(Jid, { maxItems: MAX_MENTIONS })),
  },
  closed,
);
export type IncomingMessage = Static<typeof IncomingMessageSchema>;

/** A thumbnail's most base64 characters (a 96-pixel JPEG is a few KiB). */
export const MAX_THUMBNAIL_BASE64 = 256 * 1024;

/** Most characters of a replied-to message's text shown in the quote. */
export const MAX_QUOTE_LENGTH = 1024;

/** A message for the sandbox to send, under the id the API gave it. */
export const OutgoingMessageSchema = Type.Object(
  {
    id: MessageId,
    to: Jid,
    type: MessageTypeSchema,
    text: Type.Union([text(MAX_TEXT_LENGTH), Type.Null()]),
    caption: Type.Optional(text(MAX_TEXT_LENGTH)),
    /** A media message's file; the sandbox fetches its bytes from the channel's media download. */
    media: Type.Optional(MediaInfoSchema),
    /** An image's or video's JPEG preview, base64 (WhatsApp shows it before the download). */
    thumbnail: Type.Optional(Type.String({ maxLength: MAX_THUMBNAIL_BASE64, pattern: "^[A-Za-z0-9+/]*={0,2}$" })),
    replyTo: Type.Union([MessageId, Type.Null()]),
    /** The replied-to message as the API stored it, for the quote WhatsApp shows (absent when unknown). */
    quoted: Type.Optional(Type.Object({ fromMe: Type.Boolean(), text: Type.Union([text(MAX_QUOTE_LENGTH), Type.Null()]) }, closed)),
    /** Jids a text or caption mentions. */
    mentions: Type.Optional(Type.Array(Jid, { maxItems: MAX_MENTIONS })),
    location: Type.Optional(LocationSchema),
    /** Contact cards as vCards (made by the API from names and numbers, or given raw). */
    vcards: Type.Optional(Type.Array(Type.Object({ name: text(MAX_NAME_LENGTH), vcard: text(MAX_VCARD_LENGTH) }, closed), { minItems: 1, maxItems: MAX_CONTACT_CARDS })),
    poll: Type.Optional(PollSchema),
  },
  closed,
);
export type OutgoingMessage = Static<typeof OutgoingMessageSchema>;

// ---- groups ---------------------------------------------------------------------------------

/** Most members of a group a frame carries (WhatsApp's groups hold up to 1,024; communities' announcement groups more). */
export const MAX_GROUP_PARTICIPANTS = 5000;
/** Most group ids in one sync report (an account is in at most a few thousand). */
export const MAX_GROUP_IDS = 10_000;
/** Most members one participants request names. */
export const MAX_GROUP_CHANGE = 1024;
export const MAX_SUBJECT_LENGTH = 1024;
export const MAX_DESCRIPTION_LENGTH = 4096;
export const MAX_LID_MAPPINGS = 1000;

const GroupJid = Type.String({ maxLength: 64, pattern: "^[0-9]{5,20}(-[0-9]{5,20})?@g\\.us$" });
const Role = Type.Union([Type.Literal("member"), Type.Literal("admin"), Type.Literal("superadmin")]);
const ParticipantAction = Type.Union([Type.Literal("add"), Type.Literal("remove"), Type.Literal("promote"), Type.Literal("demote")]);
/** Who did something: a phone number where the sandbox knows it, else the member's jid. */
const Actor = Type.Union([Jid, Type.Null()]);
const Member = { id: Jid, phoneNumber: Type.Union([Phone, Type.Null()]) };

export const GroupReportSchema = Type.Object(
  {
    id: GroupJid,
    subject: text(MAX_SUBJECT_LENGTH),
    description: Type.Union([text(MAX_DESCRIPTION_LENGTH), Type.Null()]),
    /** The creator: a phone number where known, else its jid. */
    owner: Actor,
    /** Seconds since the epoch. */
    createdAt: Type.Union([Timestamp, Type.Null()]),
    announce: Type.Boolean(),
    locked: Type.Boolean(),
    /** Whether the account is an admin (or the superadmin). */
    isAdmin: Type.Boolean(),
    participants: Type.Array(Type.Object({ ...Member, role: Role }, closed), { maxItems: MAX_GROUP_PARTICIPANTS }),
  },
  closed,
);
export type GroupReport = Static<typeof GroupReportSchema>;

export const GroupChangesSchema = Type.Object(
  {
    subject: Type.Optional(text(MAX_SUBJECT_LENGTH)),
    description: Type.Optional(Type.Union([text(MAX_DESCRIPTION_LENGTH), Type.Null()])),
    announce: Type.Optional(Type.Boolean()),
    locked: Type.Optional(Type.Boolean()),
  },
  closed,
);
export type GroupChangesReport = Static<typeof GroupChangesSchema>;

/** What became of one member in an add, remove, promote or demote: `ok` or WhatsApp's reason. */
const ParticipantResult = Type.Object({ participant: Jid, status: Type.String({ minLength: 1, maxLength: 64, pattern: "^[a-z0-9_]+$" }) }, closed);
export type ParticipantResultReport = Static<typeof ParticipantResult>;

const reportMembers = {
  qr: Type.Object({ type: Type.Literal("qr"), qr: Type.String({ minLength: 1, maxLength: MAX_QR_LENGTH, pattern: "^[\\x20-\\x7e]+$" }) }, closed),
  connecting: Type.Object({ type: Type.Literal("connecting") }, closed),
  ready: Type.Object({ type: Type.Literal("ready"), phoneNumber: Phone, pushName: Type.Union([text(MAX_NAME_LENGTH), Type.Null()]) }, closed),
  disconnected: Type.Object({ type: Type.Literal("disconnected"), reason: text(MAX_REASON_LENGTH) }, closed),
  logged_out: Type.Object({ type: Type.Literal("logged_out"), reason: text(MAX_REASON_LENGTH) }, closed),
  failed: Type.Object({ type: Type.Literal("failed"), reason: text(MAX_REASON_LENGTH) }, closed),
  contacts: Type.Object({ type: Type.Literal("contacts"), contacts: Type.Array(ContactReportSchema, { maxItems: MAX_SYNC_BATCH }) }, closed),
  chats: Type.Object({ type: Type.Literal("chats"), chats: Type.Array(ChatReportSchema, { maxItems: MAX_SYNC_BATCH }) }, closed),
  message: Type.Object({ type: Type.Literal("message"), message: IncomingMessageSchema }, closed),
  message_status: Type.Object({ type: Type.Literal("message_status"), id: MessageId, chatId: Jid, status: MessageStatusSchema }, closed),
  /** A media message's file could not be downloaded or decrypted (or its hash did not match). */
  media_failed: Type.Object({ type: Type.Literal("media_failed"), id: MessageId, reason: text(MAX_REASON_LENGTH) }, closed),
  /** A group as WhatsApp has it now: from the sync at connect, or one the account just joined (`joined`, `by` who added it). */
  group: Type.Object({ type: Type.Literal("group"), group: GroupReportSchema, joined: Type.Boolean(), by: Actor }, closed),
  /** Every group the account is in, after a sync: the API forgets the others (the account left them meanwhile). */
  groups_synced: Type.Object({ type: Type.Literal("groups_synced"), ids: Type.Array(GroupJid, { maxItems: MAX_GROUP_IDS }) }, closed),
  group_changes: Type.Object({ type: Type.Literal("group_changes"), groupId: GroupJid, changes: GroupChangesSchema, by: Actor }, closed),
  group_participants: Type.Object(
    {
      type: Type.Literal("group_participants"),
      groupId: GroupJid,
      action: ParticipantAction,
      participants: Type.Array(Type.Object(Member, closed), { minItems: 1, maxItems: MAX_GROUP_CHANGE }),
      by: Actor,
    },
    closed,
  ),
  /** A reaction to a stored message (`id`); `emoji` "" removes it; `from` "me" for the account's own (from its phone). */
  reaction: Type.Object(
    { type: Type.Literal("reaction"), id: MessageId, chatId: Jid, from: Jid, emoji: text(MAX_EMOJI_LENGTH), timestamp: Timestamp },
    closed,
  ),
  /** A message (`id`) edited by its sender: its new text (or caption). */
  edited: Type.Object({ type: Type.Literal("edited"), id: MessageId, chatId: Jid, text: text(MAX_TEXT_LENGTH), timestamp: Timestamp }, closed),
  /** A message (`id`) deleted for everyone by its sender (or a group admin). */
  revoked: Type.Object({ type: Type.Literal("revoked"), id: MessageId, chatId: Jid, by: Actor }, closed),
  /** A vote on a stored poll (`id`), decrypted with the poll's secret: the voter's whole choice now. */
  poll_vote: Type.Object(
    { type: Type.Literal("poll_vote"), id: MessageId, chatId: Jid, voter: Jid, options: Type.Array(text(MAX_OPTION_LENGTH), { maxItems: MAX_POLL_OPTIONS }), timestamp: Timestamp },
    closed,
  ),
  /** A contact's presence or typing in a chat the session subscribed to. */
  presence: Type.Object(
    {
      type: Type.Literal("presence"),
      chatId: Jid,
      /** In a group: who; else the chat's contact. */
      from: Actor,
      state: Type.Union([Type.Literal("available"), Type.Literal("unavailable"), Type.Literal("composing"), Type.Literal("recording"), Type.Literal("paused")]),
      lastSeen: Type.Union([Timestamp, Type.Null()]),
    },
    closed,
  ),
  /** The account is no longer in the group (it left, or was removed). */
  group_left: Type.Object({ type: Type.Literal("group_left"), groupId: GroupJid, by: Actor }, closed),
  /** LID to phone number pairs the client learned (the LID's user part). */
  lid_mappings: Type.Object(
    {
      type: Type.Literal("lid_mappings"),
      mappings: Type.Array(Type.Object({ lid: Type.String({ pattern: "^[0-9]{5,24}$" }), phone: Phone }, closed), { minItems: 1, maxItems: MAX_LID_MAPPINGS }),
    },
    closed,
  ),
};

/** Most auth-state entries one report carries (linking writes 812 pre-keys: a few reports). */
export const MAX_AUTH_ENTRIES = 500;
/** The largest auth-state entry (an app-state version grows with the account's app state). */
export const MAX_AUTH_VALUE_LENGTH = 1536 * 1024;
/** An auth-state entry's name: the sandbox's file name for it (no slash, backslash, space or leading dot). */
export const AUTH_ENTRY_NAME = "^(?!\\.)[\\x21-\\x2e\\x30-\\x5b\\x5d-\\x7e]{1,255}$";

/** Auth-state changes (credentials, Signal keys) the API mirrors: a value, or null for a removed entry. */
const authReport = Type.Object(
  {
    type: Type.Literal("auth"),
    entries: Type.Array(Type.Tuple([Type.String({ pattern: AUTH_ENTRY_NAME }), Type.Union([Type.String({ maxLength: MAX_AUTH_VALUE_LENGTH, pattern: NO_NUL }), Type.Null()])]), {
      minItems: 1,
      maxItems: MAX_AUTH_ENTRIES,
    }),
  },
  closed,
);

/** What a sandbox tells the API, each numbered so none is lost across a channel reconnect. */
export const ReportSchema = Type.Union([
  authReport,
  reportMembers.qr,
  reportMembers.connecting,
  reportMembers.ready,
  reportMembers.disconnected,
  reportMembers.logged_out,
  reportMembers.failed,
  reportMembers.contacts,
  reportMembers.chats,
  reportMembers.message,
  reportMembers.message_status,
  reportMembers.media_failed,
  reportMembers.group,
  reportMembers.groups_synced,
  reportMembers.group_changes,
  reportMembers.group_participants,
  reportMembers.group_left,
  reportMembers.lid_mappings,
  reportMembers.reaction,
  reportMembers.edited,
  reportMembers.revoked,
  reportMembers.poll_vote,
  reportMembers.presence,
]);
export type Report = Static<typeof ReportSchema>;

const TargetKey = { chatId: Jid, id: MessageId, fromMe: Type.Boolean(), participant: Type.Optional(Jid) };

const requestMembers = {
  "check-number": Type.Object(
    { type: Type.Literal("check-number"), phones: Type.Array(Phone, { minItems: 1, maxItems: MAX_CHECK_PHONES }) },
    closed,
  ),
  logout: Type.Object({ type: Type.Literal("logout") }, closed),
  "pairing-code": Type.Object({ type: Type.Literal("pairing-code"), phoneNumber: Phone }, closed),
  send: Type.Object({ type: Type.Literal("send"), message: OutgoingMessageSchema }, closed),
  read: Type.Object({ type: Type.Literal("read"), chatId: Jid, ids: Type.Array(MessageId, { minItems: 1, maxItems: MAX_READ_IDS }) }, closed),
  /** Download an incoming message's file now (its keys stay in the sandbox) and hand it to the API. */
  download: Type.Object({ type: Type.Literal("download"), id: MessageId }, closed),
  "group-create": Type.Object(
    {
      type: Type.Literal("group-create"),
      subject: text(MAX_SUBJECT_LENGTH),
      participants: Type.Array(Jid, { minItems: 1, maxItems: MAX_GROUP_CHANGE }),
      description: Type.Optional(text(MAX_DESCRIPTION_LENGTH)),
    },
    closed,
  ),
  "group-update": Type.Object({ type: Type.Literal("group-update"), groupId: GroupJid, changes: GroupChangesSchema }, closed),
  "group-participants": Type.Object(
    { type: Type.Literal("group-participants"), groupId: GroupJid, action: ParticipantAction, participants: Type.Array(Jid, { minItems: 1, maxItems: MAX_GROUP_CHANGE }) },
    closed,
  ),
  /** The group's invite code; `revoke` makes a new one first (the old one stops working). */
  "group-invite": Type.Object({ type: Type.Literal("group-invite"), groupId: GroupJid, revoke: Type.Boolean() }, closed),
  "group-join": Type.Object({ type: Type.Literal("group-join"), code: Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" }) }, closed),
  "group-leave": Type.Object({ type: Type.Literal("group-leave"), groupId: GroupJid }, closed),
  /** A stored message, as WhatsApp keys it: its chat, id, whether the account sent it, and in a group its author's jid. */
  react: Type.Object({ type: Type.Literal("react"), target: Type.Object(TargetKey, closed), emoji: text(MAX_EMOJI_LENGTH) }, closed),
  edit: Type.Object({ type: Type.Literal("edit"), target: Type.Object(TargetKey, closed), text: text(MAX_TEXT_LENGTH), caption: Type.Boolean() }, closed),
  revoke: Type.Object({ type: Type.Literal("revoke"), target: Type.Object(TargetKey, closed) }, closed),
  /** Typing in a chat (composing, recording, paused), or the account's availability (no chat). */
  presence: Type.Object(
    {
      type: Type.Literal("presence"),
      chatId: Type.Optional(Jid),
      state: Type.Union([Type.Literal("available"), Type.Literal("unavailable"), Type.Literal("composing"), Type.Literal("recording"), Type.Literal("paused")]),
    },
    closed,
  ),
  "presence-subscribe": Type.Object({ type: Type.Literal("presence-subscribe"), chatId: Jid }, closed),
};
export const SandboxRequestSchema = Type.Union([
  requestMembers["check-number"],
  requestMembers.logout,
  requestMembers["pairing-code"],
  requestMembers.send,
  requestMembers.read,
  requestMembers.download,
  requestMembers["group-create"],
  requestMembers["group-update"],
  requestMembers["group-participants"],
  requestMembers["group-invite"],
  requestMembers["group-join"],
  requestMembers["group-leave"],
  requestMembers.react,
  requestMembers.edit,
  requestMembers.revoke,
  requestMembers.presence,
  requestMembers["presence-subscribe"],
]);
export type SandboxRequest = Static<typeof SandboxRequestSchema>;

export const NumberCheckSchema = Type.Object(
  { phone: Phone, exists: Type.Boolean(), jid: Type.Union([Jid, Type.Null()]) },
  closed,
);
export type NumberCheck = Static<typeof NumberCheckSchema>;

/** The answer each request type must get. */
export const ResultSchemas = {
  "check-number": Type.Object({ results: Type.Array(NumberCheckSchema, { maxItems: MAX_CHECK_PHONES }) }, closed),
  "pairing-code": Type.Object({ code: Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9-]+$" }) }, closed),
  logout: Type.Object({}, closed),
  /** Sent: WhatsApp's server took it (at `timestamp`, seconds). */
  send: Type.Object({ timestamp: Timestamp }, closed),
  read: Type.Object({}, closed),
  download: Type.Union([
    Type.Object({ stored: Type.Literal(true) }, closed),
    Type.Object({ stored: Type.Literal(false), reason: text(MAX_REASON_LENGTH) }, closed),
  ]),
  "group-create": Type.Object({ group: GroupReportSchema, results: Type.Array(ParticipantResult, { maxItems: MAX_GROUP_CHANGE }) }, closed),
  /** The group after the change, as WhatsApp answers it. */
  "group-update": Type.Object({ group: GroupReportSchema }, closed),
  "group-participants": Type.Object({ group: GroupReportSchema, results: Type.Array(ParticipantResult, { maxItems: MAX_GROUP_CHANGE }) }, closed),
  "group-invite": Type.Object({ code: Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" }) }, closed),
  "group-join": Type.Object({ group: GroupReportSchema }, closed),
  "group-leave": Type.Object({}, closed),
  react: Type.Object({}, closed),
  edit: Type.Object({}, closed),
  revoke: Type.Object({}, closed),
  presence: Type.Object({}, closed),
  "presence-subscribe": Type.Object({}, closed),
};
export type SandboxResponse<R extends SandboxRequest> = Static<(typeof ResultSchemas)[R["type"]]>;

const ErrorSchema = Type.Object({ code: Tag, message: text(MAX_ERROR_MESSAGE_LENGTH) }, closed);
export type ChannelFailure = Static<typeof ErrorSchema>;

const ReportEnvelope = { kind: Type.Literal("report"), seq: Seq, boot: Tag };
const ReportFrameSchema = Type.Object({ ...ReportEnvelope, report: ReportSchema }, closed);
const OkResponseSchema = Type.Object({ kind: Type.Literal("response"), id: Tag, ok: Type.Literal(true), result: Type.Unknown() }, closed);
const ErrorResponseSchema = Type.Object({ kind: Type.Literal("response"), id: Tag, ok: Type.Literal(false), error: ErrorSchema }, closed);

/** Sandbox -> API frames. */
export const SandboxFrameSchema = Type.Union([ReportFrameSchema, OkResponseSchema, ErrorResponseSchema]);
export type SandboxFrame = Static<typeof SandboxFrameSchema>;

/** Everything up to and including `seq` of boot `boot` is stored; the sandbox may forget it. */
const AckFrameSchema = Type.Object({ kind: Type.Literal("ack"), boot: Tag, seq: Seq }, closed);
const RequestFrameSchema = Type.Object({ kind: Type.Literal("request"), id: Tag, request: SandboxRequestSchema }, closed);
/** A fresh token before the current one expires; the sandbox uses it for its next connect. */
const TokenFrameSchema = Type.Object({ kind: Type.Literal("token"), token: Jwt }, closed);

/** API -> sandbox frames. */
export const ApiFrameSchema = Type.Union([AckFrameSchema, RequestFrameSchema, TokenFrameSchema]);
export type ApiFrame = Static<typeof ApiFrameSchema>;

// ---- checking -------------------------------------------------------------------------------

type Explain = (value: unknown) => string | null;

/** What a compiled schema offers; `compile` builds it on first use. */
type Checker = Pick<TypeCheck<TSchema>, "Check" | "Errors">;

/**
 * Compiles on first use: most checkers here only explain a refusal, and each compiled checker is
 * JavaScript generated and parsed at run time, memory every sandbox would otherwise hold (about
 * 1 MiB for all of them in the sandbox executable) for checks it may never run.
 */
function compile(schema: TSchema): Checker {
  let compiled: TypeCheck<TSchema> | undefined;
  const get = () => (compiled ??= TypeCompiler.Compile(schema));
  return { Check: (value): value is unknown => get().Check(value), Errors: (value) => get().Errors(value) };
}

/** The first mismatch as `path: message`; TypeBox messages name the rule, never the value. */
function firstError(check: Checker, prefix = ""): Explain {
  return (value) => {
    if (check.Check(value)) return null;
    const e = check.Errors(value).First();
    return e ? `${prefix}${e.path || "/"}: ${e.message}` : `${prefix}/: invalid`;
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A short, printable rendering of a tag a peer sent, safe to put in a log line. */
function shortTag(value: unknown): string {
  if (typeof value !== "string") return typeof value;
  return JSON.stringify(value.length > 32 ? value.slice(0, 32) + "…" : value);
}

/** Explains a union by its discriminating field, so a reason names the member's own mismatch. */
function byTag(key: string, members: Record<string, Explain>, where = ""): Explain {
  return (value) => {
    if (!isObject(value)) return `${where || "/"}: expected an object`;
    const tag = value[key];
    const explain = typeof tag === "string" && Object.hasOwn(members, tag) ? members[tag] : undefined;
    return explain ? explain(value) : `${where}/${key}: unexpected ${key} ${shortTag(tag)}`;
  };
}

function explainers(members: Record<string, TObject>, prefix: string): Record<string, Explain> {
  return Object.fromEntries(Object.entries(members).map(([k, s]) => [k, firstError(compile(s), prefix)]));
}

const explainReport = byTag("type", explainers(reportMembers, "/report"), "/report");
const explainRequest = byTag("type", explainers(requestMembers, "/request"), "/request");
const reportEnvelope = firstError(compile(Type.Object({ ...ReportEnvelope, report: Type.Unknown() }, closed)));
const requestEnvelope = firstError(compile(Type.Object({ kind: Type.Literal("request"), id: Tag, request: Type.Unknown() }, closed)));
const okResponse = firstError(compile(OkResponseSchema));
const errorResponse = firstError(compile(ErrorResponseSchema));

const explainSandboxFrame = byTag("kind", {
  report: (v) => reportEnvelope(v) ?? explainReport((v as { report: unknown }).report),
  response: (v) => {
    const ok = (v as { ok?: unknown }).ok;
    return ok === true ? okResponse(v) : ok === false ? errorResponse(v) : "/ok: expected true or false";
  },
});
const explainApiFrame = byTag("kind", {
  ack: firstError(compile(AckFrameSchema)),
  request: (v) => requestEnvelope(v) ?? explainRequest((v as { request: unknown }).request),
  token: firstError(compile(TokenFrameSchema)),
});

const sandboxFrameCheck = compile(SandboxFrameSchema);
const apiFrameCheck = compile(ApiFrameSchema);
const resultChecks = Object.fromEntries(
  Object.entries(ResultSchemas).map(([type, schema]) => [type, firstError(compile(schema), "/result")]),
) as Record<SandboxRequest["type"], Explain>;

/** The checked frame, or why it was refused (short, without the frame's content). */
export type FrameCheck<F> = { ok: true; frame: F } | { ok: false; reason: string; value?: unknown };

function read<F>(data: unknown, check: Checker, explain: Explain): FrameCheck<F> {
  try {
    if (typeof data !== "string") return { ok: false, reason: "not a text frame" };
    // A string's UTF-8 size is between its length and three times it; count only when it matters.
    if (data.length > MAX_FRAME_BYTES || (data.length > MAX_FRAME_BYTES / 3 && Buffer.byteLength(data, "utf8") > MAX_FRAME_BYTES)) {
      return { ok: false, reason: `frame larger than ${MAX_FRAME_BYTES} bytes` };
    }
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      return { ok: false, reason: "not JSON" };
    }
    if (check.Check(value)) return { ok: true, frame: value as F };
    return { ok: false, reason: clip(explain(value) ?? "invalid frame", 200), value };
  } catch (err) {
    // Never throws: a checker failure is one more refusal (a stack overflow on absurd nesting).
    return { ok: false, reason: `unreadable frame (${err instanceof Error ? err.name : "error"})` };
  }
}

/** Checks a raw frame a sandbox sent to the API. */
export function readSandboxFrame(data: unknown): FrameCheck<SandboxFrame> {
  return read(data, sandboxFrameCheck, explainSandboxFrame);
}

/** Checks a raw frame the API sent to a sandbox. */
export function readApiFrame(data: unknown): FrameCheck<ApiFrame> {
  return read(data, apiFrameCheck, explainApiFrame);
}

/** Why a frame about to be sent to a sandbox is malformed, or null when it is fine. */
export function apiFrameError(frame: unknown): string | null {
  return apiFrameCheck.Check(frame) ? null : (explainApiFrame(frame) ?? "invalid frame");
}

/** Why a frame about to be sent to the API is malformed, or null when it is fine. */
export function sandboxFrameError(frame: unknown): string | null {
  return sandboxFrameCheck.Check(frame) ? null : (explainSandboxFrame(frame) ?? "invalid frame");
}

/** Why a result does not answer a request of this type, or null when it does. */
export function resultError(type: SandboxRequest["type"], result: unknown): string | null {
  const explain = resultChecks[type];
  return explain ? explain(result) : `no result schema for ${shortTag(type)}`;
}

const contactCheck = compile(ContactReportSchema);
const chatCheck = compile(ChatReportSchema);
export const isContactReport = (value: unknown): value is ContactReport => contactCheck.Check(value);
export const isChatReport = (value: unknown): value is ChatReport => chatCheck.Check(value);

/**
 * Cuts text to `max` UTF-16 units without splitting a surrogate pair, and drops NULs (which
 * PostgreSQL refuses in text).
 */
export function clip(value: string, max: number): string {
  const s = value.includes("\u0000") ? value.replaceAll("\u0000", "") : value;
  if (s.length <= max) return s;
  const code = s.charCodeAt(max - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}
