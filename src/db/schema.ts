// Postgres is the source of truth: sessions, key hashes, what the sandboxes reported. The words
// (states, statuses, events) are the domain's, from src/model.
import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  serial,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import type { GroupParticipant } from "../model/groups";
import type { ContactCard, Location, MessageStatus, MessageType, Reaction, StoredMedia, StoredPoll } from "../model/messages";
import type { SessionState } from "../model/session-states";
import type { DeliveryStatus } from "../model/webhook-events";

export const sessions = pgTable("sessions", {
  id: uuid("id").primaryKey(),
  name: text("name").notNull().unique(),
  state: text("state").$type<SessionState>().notNull(),
  stateReason: text("state_reason"),
  /** SHA-256 hex of the session's API key; the key itself is never stored. */
  keyHash: text("key_hash").notNull().unique(),
  /** The current container launch; channel tokens name it, so a stopped or replaced sandbox's tokens stop working. */
  launchId: text("launch_id"),
  webhookUrl: text("webhook_url"),
  /** Events the webhook receives; null for all of them. */
  webhookEvents: text("webhook_events").array(),
  /** Random per-session input of the webhook secret; the secret itself needs a key kept outside the database. */
  webhookSecretSalt: text("webhook_secret_salt"),
  /** Why deliveries stopped (the receiver answered 410 Gone); cleared when the URL is set again. */
  webhookDisabledReason: text("webhook_disabled_reason"),
  /** The session's proxy URL, AES-256-GCM under a key kept outside the database (egress/proxy-secrets.ts); null for none. */
  proxyEncrypted: text("proxy_encrypted"),
  /** The same URL as shown: `socks5://user:***@host:port` (no password). */
  proxyMasked: text("proxy_masked"),
  metadata: jsonb("metadata").$type<Record<string, unknown>>(),
  /** The node (API process with its own Podman) that runs the session's container; only it creates, starts and stops it. */
  node: text("node"),
  /**
   * Set when the session came to its node from elsewhere (made on another node, moved, adopted from
   * a dead node): the owner clears what its engine may hold of an older copy and launches it from
   * the mirrored auth state, then clears this. The text says why (a status's reason while it moves).
   */
  handover: text("handover"),
  phoneNumber: text("phone_number"),
  pushName: text("push_name"),
  qr: text("qr"),
  qrUpdatedAt: timestamp("qr_updated_at", { withTimezone: true, mode: "date" }),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  lastActivity: timestamp("last_activity", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
});

export const adminKeys = pgTable("admin_keys", {
  keyHash: text("key_hash").primaryKey(),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
});

/** Facts about this installation, such as its identity (`install_id`), kept with its data. */
export const settings = pgTable("settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

/** Every state change with its reason, for operators and webhooks. */
export const sessionEvents = pgTable(
  "session_events",
  {
    id: serial("id").primaryKey(),
    sessionId: uuid("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    fromState: text("from_state").$type<SessionState>(),
    toState: text("to_state").$type<SessionState>().notNull(),
    reason: text("reason"),
    at: timestamp("at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [index("session_events_session_idx").on(t.sessionId, t.id)],
);

export const contacts = pgTable(
  "contacts",
  {
    sessionId: uuid("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    id: text("id").notNull(),
    name: text("name"),
    notify: text("notify"),
    verifiedName: text("verified_name"),
    phone: text("phone"),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().default(sql`now()`),
  },
  (t) => [primaryKey({ columns: [t.sessionId, t.id] })],
);

export const chats = pgTable(
  "chats",
  {
    sessionId: uuid("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    id: text("id").notNull(),
    name: text("name"),
    isGroup: boolean("is_group").notNull(),
    unreadCount: integer("unread_count").notNull().default(0),
    /** Seconds since the epoch of the chat's last message, as WhatsApp reports it. */
    timestamp: bigint("timestamp", { mode: "number" }),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().default(sql`now()`),
  },
  (t) => [primaryKey({ columns: [t.sessionId, t.id] })],
);

/**
 * The webhook outbox: one row per event for a session with a webhook, written in the transaction
 * of the change that caused it, delivered in `seq` order per session, kept for a while after.
 */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    /** Also the `webhook-id` header and the body's `id`: receivers deduplicate by it. */
    id: text("id").primaryKey(),
    seq: bigserial("seq", { mode: "number" }).notNull(),
    sessionId: uuid("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    event: text("event").notNull(),
    /** The JSON body as it is sent, so every attempt sends the same bytes. */
    body: text("body").notNull(),
    status: text("status").$type<DeliveryStatus>().notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    lastStatus: integer("last_status"),
    lastError: text("last_error"),
    nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    /** When a dead delivery was sent again by hand: its retry window starts anew. */
    retriedAt: timestamp("retried_at", { withTimezone: true, mode: "date" }),
    deliveredAt: timestamp("delivered_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [index("webhook_deliveries_open_idx").on(t.sessionId, t.seq).where(sql`status in ('pending', 'failed')`), index("webhook_deliveries_session_idx").on(t.sessionId, t.seq)],
);

/** Messages sent through the API and received by the account, under WhatsApp's own ids. */
export const messages = pgTable(
  "messages",
  {
    sessionId: uuid("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    id: text("id").notNull(),
    /** Order of storing: the tiebreak between messages of the same second (ids are random). */
    seq: bigserial("seq", { mode: "number" }).notNull(),
    chatId: text("chat_id").notNull(),
    fromMe: boolean("from_me").notNull(),
    /** `text` today; media, reactions and group messages add kinds, not tables. */
    type: text("type").$type<MessageType>().notNull().default("text"),
    text: text("text"),
    /** A media message's caption. */
    caption: text("caption"),
    /** A media message's file: what it is and whether it is stored (the bytes live in the MediaStore). */
    media: jsonb("media").$type<StoredMedia>(),
    replyTo: text("reply_to"),
    /** In a group: who wrote it, as a phone number where known, else the member's jid. */
    author: text("author"),
    /** Members a text or caption mentions (phone numbers where known, else jids). */
    mentions: text("mentions").array(),
    /** One reaction per sender, the latest: `from` a phone number (or jid), or "me". */
    reactions: jsonb("reactions").$type<Reaction[]>(),
    /** When its text (or caption) was last edited. */
    editedAt: timestamp("edited_at", { withTimezone: true, mode: "date" }),
    /** Deleted for everyone: its text, caption, file and content are gone, its id stays. */
    revoked: boolean("revoked").notNull().default(false),
    location: jsonb("location").$type<Location>(),
    contacts: jsonb("contacts").$type<ContactCard[]>(),
    /** A poll's question and options, and each voter's current choice (voter -> options). */
    poll: jsonb("poll").$type<StoredPoll>(),
    status: text("status").$type<MessageStatus>().notNull(),
    /** Seconds since the epoch: when it was sent or received. */
    timestamp: bigint("timestamp", { mode: "number" }).notNull(),
    /** The client's Idempotency-Key of the send that made it (24 hours). */
    idempotencyKey: text("idempotency_key"),
    error: text("error"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.sessionId, t.id] }),
    index("messages_chat_idx").on(t.sessionId, t.chatId, t.timestamp, t.seq),
    uniqueIndex("messages_idempotency_idx").on(t.sessionId, t.idempotencyKey).where(sql`idempotency_key is not null`),
    index("messages_pending_idx").on(t.sessionId, t.createdAt).where(sql`status = 'pending'`),
  ],
);

/**
 * The groups the account is in, as WhatsApp's notifications and the sync at each connect left
 * them. Members are one JSON array in the row: a group's read is one row, however many it has.
 */
export const groups = pgTable(
  "groups",
  {
    sessionId: uuid("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    id: text("id").notNull(),
    subject: text("subject").notNull(),
    description: text("description"),
    /** The creator, as a phone number where known, else its jid. */
    owner: text("owner"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }),
    announce: boolean("announce").notNull().default(false),
    locked: boolean("locked").notNull().default(false),
    /** Whether the account is an admin (or the superadmin) of the group. */
    isAdmin: boolean("is_admin").notNull().default(false),
    size: integer("size").notNull(),
    participants: jsonb("participants").$type<GroupParticipant[]>().notNull(),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.sessionId, t.id] })],
);

/** LID to phone number, as the session's WhatsApp client learned it (LIDs are per account, not per session, but learned per session). */
export const lidMappings = pgTable(
  "lid_mappings",
  {
    sessionId: uuid("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    /** The LID's user part (digits, no device, no server). */
    lid: text("lid").notNull(),
    phone: text("phone").notNull(),
  },
  (t) => [primaryKey({ columns: [t.sessionId, t.lid] })],
);

/** The API processes sharing this database, each with its own Podman; `dead` is judged from `lastSeen`. */
export const nodes = pgTable("nodes", {
  id: text("id").primaryKey(),
  /** Where the other nodes reach this one's REST API (NODE_URL). */
  url: text("url").notNull(),
  capacity: integer("capacity").notNull(),
  /** live, or draining (takes no new session and moves its own off); dead is not stored. */
  state: text("state").$type<"live" | "draining">().notNull().default("live"),
  /** Changes at each start: the others tell a restart from a node that merely went on. */
  bootId: text("boot_id").notNull(),
  startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  lastSeen: timestamp("last_seen", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
});

/**
 * A session's WhatsApp auth state (credentials and Signal keys) as its sandbox reported it, each
 * entry AES-256-GCM under AUTH_STATE_KEY (kept outside the database): what a session that moves
 * to another node starts from, without a new QR.
 */
export const authState = pgTable(
  "auth_state",
  {
    sessionId: uuid("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    /** The sandbox's file name of the entry (`creds.json`, `session-<jid>.json`, …). */
    name: text("name").notNull(),
    /** base64 of iv, ciphertext and tag. */
    value: text("value").notNull(),
  },
  (t) => [primaryKey({ columns: [t.sessionId, t.name] })],
);

/** Which node delivers a session's webhooks now: one at a time, each lease good until `until`. */
export const webhookLeases = pgTable("webhook_leases", {
  sessionId: uuid("session_id")
    .primaryKey()
    .references(() => sessions.id, { onDelete: "cascade" }),
  node: text("node").notNull(),
  until: timestamp("until", { withTimezone: true, mode: "date" }).notNull(),
});

export type SessionRow = typeof sessions.$inferSelect;
export type NodeRow = typeof nodes.$inferSelect;
export type NewSessionRow = typeof sessions.$inferInsert;
export type ContactRow = typeof contacts.$inferSelect;
export type ChatRow = typeof chats.$inferSelect;
export type SessionEventRow = typeof sessionEvents.$inferSelect;
export type DeliveryRow = typeof webhookDeliveries.$inferSelect;
export type MessageRow = typeof messages.$inferSelect;
export type GroupRow = typeof groups.$inferSelect;
