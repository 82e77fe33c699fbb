// Sending and receiving messages. A message is stored `pending` before the sandbox sees it, and
// handed over now if the sandbox is there, else when its channel comes back; the sandbox sends
// each id at most once. Receipts and incoming messages arrive as reports (see reports.ts).
import { randomBytes } from "node:crypto";
import { MAX_QUOTE_LENGTH, MAX_READ_IDS, type IncomingMessage, type OutgoingMessage } from "../channel/frames";
import { ChannelError, SandboxTimeout, SandboxUnavailable, type SandboxLink } from "../channel/link";
import type { Cursor, MessageRepository } from "../db/message-repository";
import type { MessageRow, SessionRow } from "../db/schema";
import { isMediaType, type MediaType, type MessageStatus, type MessageType, type StoredMedia } from "../model/messages";
import type { Logger } from "../log";
import { SessionError, sessionErrors } from "./errors";
import { RateLimiter } from "../limits";
import type { MediaFiles } from "./media";
import type { MediaInput, MediaSources } from "./media-sources";
import { messageView } from "./message-view";
import { askSandbox } from "./sandbox-calls";
import type { SessionState } from "../model/session-states";
import type { Groups } from "./groups";
import type { Location } from "../model/messages";
import { makeVcard, readVcard } from "../model/vcard";

/** A message to send (the send route's body, checked there): a text, or a file of a media type. */
export interface SendInput {
  to: string;
  type?: MessageType;
  text?: string;
  /** The file: base64, a URL the API fetches, or a form's file part. */
  media?: MediaInput;
  caption?: string;
  fileName?: string;
  mimetype?: string;
  replyTo?: string;
  /** Members a text or caption mentions: phone numbers or jids. */
  mentions?: string[];
  location?: Location;
  /** Contact cards by name and number (the API makes their vCards). */
  contacts?: { name: string; phoneNumber: string }[];
  /** One contact card given as a raw vCard. */
  vcard?: string;
  poll?: { question: string; options: string[]; multiple?: boolean };
}

export interface MessagingDeps {
  messages: MessageRepository;
  /** Sends to a group are judged on the stored group (member, announce). */
  groups: Pick<Groups, "checkSend">;
  link: SandboxLink;
  log: Logger;
  sendPerMinute: number;
  requestTimeoutMs: number;
  channelWaitMs: number;
  media: MediaFiles;
  /** Where a send's file comes from (base64, a URL, a form part). */
  sources: MediaSources;
  /** MEDIA_MAX_BYTES: larger incoming files are not downloaded (their media is `failed`). */
  mediaMaxBytes: number;
  /** MEDIA_AUTO_DOWNLOAD: false leaves incoming files to POST …/media/download (their media is `failed` until then). */
  mediaAutoDownload: boolean;
  /** A status change or an incoming message was stored with its webhook event. */
  onWritten?: (sessionId: string) => void;
}

const sendable: SessionState[] = ["ready", "disconnected"];
const IDEMPOTENCY_MS = 24 * 3_600_000;
/** How long the sandbox's answer to a send is awaited: past its number lookup and the server's ack (15 s there). */
const SETTLE_MS = 60_000;
const phone = /^\+?\d{7,15}$/;
/** A user's jid, or a group's in WhatsApp's two forms: `<digits>@g.us` and `<creator>-<time>@g.us`. */
const jid = /^[0-9]{5,20}(@s\.whatsapp\.net|@lid)$|^[0-9]{5,20}(-[0-9]{5,20})?@g\.us$/;

export { messageView };

const invalid = sessionErrors.invalidField;

/** The fields only one kind takes. */
const kindFields = { location: "location", contact: "contacts", poll: "poll" } as const;
type OtherKind = keyof typeof kindFields;

/** The send's kind, once its fields fit it: a text has its text and nothing of a file; a file has no text. */
function checkShape(input: SendInput): "text" | MediaType | OtherKind {
  const type = input.type ?? "text";
  for (const [kind, field] of Object.entries(kindFields)) {
    if (type !== kind && input[field] !== undefined) throw invalid(field, `only a ${kind} message takes it`);
  }
  if (type !== "contact" && input.vcard !== undefined) throw invalid("vcard", "only a contact message takes it");
  if (type === "location" || type === "contact" || type === "poll") {
    for (const field of ["text", "media", "caption", "fileName", "mimetype"] as const) if (input[field] !== undefined) throw invalid(field, `a ${type} message does not take it`);
    if (type === "location" && !input.location) throw invalid("location", "a location message needs its location");
    if (type === "contact" && !input.contacts === !input.vcard) throw invalid("contacts", "a contact message takes `contacts` or a raw `vcard`, one of them");
    if (type === "poll") {
      if (!input.poll) throw invalid("poll", "a poll message needs its poll");
      if (new Set(input.poll.options).size !== input.poll.options.length) throw invalid("poll.options", "options must differ");
    }
    return type;
  }
  if (type === "text") {
    if (input.text === undefined) throw invalid("text", "a text message needs its text");
    for (const field of ["media", "caption", "fileName", "mimetype"] as const) if (input[field] !== undefined) throw invalid(field, "only a media message takes it");
    return type;
  }
  if (!isMediaType(type)) throw invalid("type", `"${type}" cannot be sent`);
  if (input.text !== undefined) throw invalid("text", `a ${type} message takes a caption, not a text`);
  if (!input.media) throw invalid("media", `a ${type} message needs its file`);
  if ("data" in input.media && !/^[A-Za-z0-9+/]*={0,2}$/.test(input.media.data)) throw invalid("media.data", "is not base64");
  if (input.caption !== undefined && !["image", "video", "document"].includes(type)) throw invalid("caption", `a ${type} message has no caption`);
  if (input.fileName !== undefined && type !== "document") throw invalid("fileName", "only a document has a file name");
  return type;
}

/** The jids a text or caption mentions (null for none); only a text or a captioned file mentions. */
function mentionsOf(input: SendInput): string[] | null {
  if (!input.mentions?.length) return null;
  if ((input.type ?? "text") !== "text" && input.caption === undefined) throw invalid("mentions", "only a text or a caption mentions members");
  const jids = input.mentions.map((m, i) => chatJid(m, `mentions[${i}]`));
  if (jids.some((j) => j.endsWith("@g.us"))) throw invalid("mentions", "mentions name members, not groups");
  return [...new Set(jids)];
}

/** A contact card's number: digits with country code (an optional + before). */
function phoneDigitsOf(value: string, field: string): string {
  if (!phone.test(value)) throw sessionErrors.invalidPhone(field);
  return value.replace(/^\+/, "");
}

/** WhatsApp's own message ids look like this; ours are made so they cannot collide. */
function newMessageId(): string {
  return "3EB0" + randomBytes(10).toString("hex").toUpperCase();
}

/** A phone number or a jid, as the jid WhatsApp addresses. */
export function chatJid(to: string, field = "to"): string {
  if (phone.test(to)) return `${to.replace(/^\+/, "")}@s.whatsapp.net`;
  if (jid.test(to)) return to;
  throw sessionErrors.invalidPhone(field);
}

function encodeCursor(m: MessageRow): string {
  return Buffer.from(`${m.timestamp}:${m.seq}`).toString("base64url");
}

export function decodeCursor(raw: string): Cursor {
  const [timestamp, seq, ...rest] = Buffer.from(raw, "base64url").toString().split(":").map(Number);
  if (!Number.isSafeInteger(timestamp) || !Number.isSafeInteger(seq) || rest.length > 0) {
    throw sessionErrors.invalidField("before", "not a cursor this API gave");
  }
  return { timestamp: timestamp!, seq: seq! };
}

/** A send's answer: the message, or 422 when WhatsApp does not know its number. */
function answerOf(m: MessageRow): MessageRow {
  if (m.status === "failed" && m.error === "NOT_ON_WHATSAPP") {
    throw new SessionError("NOT_ON_WHATSAPP", `${m.chatId} is not on WhatsApp`, { messageId: m.id });
  }
  return m;
}

export class Messaging {
  private readonly sendLimiter: RateLimiter;
  /** Sessions whose pending messages are being handed over now. */
  private readonly flushing = new Set<string>();

  constructor(private readonly d: MessagingDeps) {
    this.sendLimiter = new RateLimiter(d.sendPerMinute, 60_000);
  }

  async send(session: SessionRow, input: SendInput, idempotencyKey: string | null): Promise<MessageRow> {
    const to = chatJid(input.to);
    const type = checkShape(input);
    const mentions = mentionsOf(input);
    // A URL the guard refuses is the client's mistake whatever the session's state: no request is made.
    if (input.media) await this.d.sources.check(input.media);
    // A key used before answers as the first send did, whatever the session's state is now.
    if (idempotencyKey) {
      const earlier = await this.d.messages.byIdempotencyKey(session.id, idempotencyKey, new Date(Date.now() - IDEMPOTENCY_MS));
      if (earlier) return answerOf(earlier);
    }
    if (!sendable.includes(session.state)) throw sessionErrors.wrongState("send a message", session.state, sendable);
    if (to.endsWith("@g.us")) await this.d.groups.checkSend(session, to);
    if (!this.sendLimiter.take(session.id)) {
      throw new SessionError("RATE_LIMITED", `At most ${this.d.sendPerMinute} messages a minute per session`);
    }
    // A file refused (its type, its size) costs no send.
    const content = await this.content(input, type).catch((err) => {
      this.sendLimiter.refund(session.id);
      throw err;
    });
    const row = await this.d.messages.insertOutgoing(session, {
      id: newMessageId(),
      chatId: to,
      fromMe: true,
      ...content,
      replyTo: input.replyTo ?? null,
      ...(mentions ? { mentions } : {}),
      status: "pending",
      timestamp: Math.floor(Date.now() / 1000),
      idempotencyKey,
    });
    // Two sends with one key at once: the second finds the first's row.
    if (!row) return answerOf((await this.d.messages.byIdempotencyKey(session.id, idempotencyKey!, new Date(0)))!);
    if (!this.d.link.isConnected(session.id)) return row; // handed over when the channel is back
    return answerOf(await this.handOver(session, row));
  }

  /** What a send of this kind (checkShape) stores: its text, its file (stored first) and caption, or its location, cards or poll. */
  private async content(input: SendInput, type: "text" | MediaType | OtherKind): Promise<Pick<MessageRow, "type" | "text" | "caption" | "media"> & Partial<Pick<MessageRow, "location" | "contacts" | "poll">>> {
    const none = { text: null, caption: null, media: null };
    if (type === "text") return { type, text: input.text!, caption: null, media: null };
    if (type === "location") return { type, ...none, location: input.location! };
    if (type === "contact") {
      if (input.vcard) {
        const read = readVcard(input.vcard);
        return { type, ...none, contacts: [{ name: read.name ?? "", phoneNumber: read.phoneNumber, vcard: input.vcard }] };
      }
      return { type, ...none, contacts: input.contacts!.map((c, i) => ({ name: c.name, phoneNumber: phoneDigitsOf(c.phoneNumber, `contacts[${i}].phoneNumber`) })) };
    }
    if (type === "poll") return { type, ...none, poll: { question: input.poll!.question, options: input.poll!.options, multiple: input.poll!.multiple ?? false, votes: {} } };
    const source = await this.d.sources.open(input.media!);
    try {
      const fileName = type === "document" ? (input.fileName ?? source.fileName ?? "file") : undefined;
      const media = await this.d.media.accept({ type, bytes: source.bytes, ...(source.onDisk ? { onDisk: source.onDisk } : {}), field: source.field, mimetype: input.mimetype, servedAs: source.servedAs, fileName });
      return { type, text: null, caption: input.caption ?? null, media };
    } finally {
      source.close();
    }
  }

  get(session: SessionRow, id: string): Promise<MessageRow> {
    return this.d.messages.byId(session.id, id).then((m) => {
      if (!m) throw sessionErrors.messageNotFound(id);
      return m;
    });
  }

  /** A page of the chat's messages, newest first, and the cursor of the next one (null on the last page). */
  async list(session: SessionRow, chatId: string, limit: number, before: string | undefined): Promise<{ messages: MessageRow[]; nextCursor: string | null }> {
    // One more than asked: a full last page then says it is the last.
    const rows = await this.d.messages.listChat(session.id, chatJid(chatId, "chatId"), limit + 1, before ? decodeCursor(before) : null);
    const page = rows.slice(0, limit);
    return { messages: page, nextCursor: rows.length > limit ? encodeCursor(page.at(-1)!) : null };
  }

  /**
   * Sends read receipts for the chat's unread incoming messages and zeroes its unread count. A
   * page at a time, each marked read once its receipts went: a retry after a failure half-way
   * sends only what is left, and no statement grows with the chat.
   */
  async markRead(session: SessionRow, chatId: string): Promise<number> {
    const chat = chatJid(chatId, "chatId");
    let read = 0;
    let after: Cursor | null = null;
    for (;;) {
      const page = await this.d.messages.unreadIncoming(session.id, chat, MAX_READ_IDS, after);
      if (page.length === 0) break;
      if (session.state !== "ready") throw sessionErrors.wrongState("send read receipts", session.state, ["ready"]);
      const ids = page.map((m) => m.id);
      await askSandbox(this.d, session.id, { type: "read", chatId: chat, ids });
      await this.d.messages.markRead(session.id, ids);
      read += ids.length;
      after = page.at(-1)!;
    }
    await this.d.messages.clearUnread(session.id, chat);
    return read;
  }

  /** Hands every pending message of the session to its sandbox, oldest first (channel back, session ready). */
  async flush(session: SessionRow): Promise<void> {
    if (this.flushing.has(session.id) || !this.d.link.isConnected(session.id)) return;
    this.flushing.add(session.id);
    try {
      for (const m of await this.d.messages.pendingOutgoing(session.id)) {
        const after = await this.handOver(session, m);
        if (after.status === "pending") return; // the sandbox cannot send now; the next flush tries again
      }
    } finally {
      this.flushing.delete(session.id);
    }
  }

  /** An incoming message (or one the account's phone sent), stored once, with its chat and webhook. */
  async received(session: SessionRow, m: IncomingMessage): Promise<void> {
    const media: StoredMedia | null = !m.media
      ? null
      : m.media.size > this.d.mediaMaxBytes
        ? { ...m.media, state: "failed", reason: `larger than MEDIA_MAX_BYTES (${this.d.mediaMaxBytes} bytes): not downloaded` }
        : !this.d.mediaAutoDownload
          ? { ...m.media, state: "failed", reason: "not downloaded (MEDIA_AUTO_DOWNLOAD is false): POST …/media/download fetches it" }
          : { ...m.media, state: "pending" };
    const row = {
      id: m.id,
      chatId: m.chatId,
      fromMe: m.fromMe,
      type: m.type,
      text: m.text,
      caption: m.caption ?? null,
      media,
      replyTo: m.replyTo,
      // Only where there is one: the statement's shape follows the fields given.
      ...(m.author ? { author: m.author } : {}),
      ...(m.mentions?.length ? { mentions: m.mentions } : {}),
      ...(m.location ? { location: m.location } : {}),
      ...(m.contacts ? { contacts: m.contacts } : {}),
      ...(m.poll ? { poll: { ...m.poll, votes: {} } } : {}),
      status: m.fromMe ? "sent" : "delivered",
      timestamp: m.timestamp,
    } as const;
    // A file on its way is announced once it is stored or failed (media.ts), so a receiver can fetch it.
    const events = media?.state === "pending" ? [] : [{ event: "message.received" as const, data: messageView(session.id, row) }];
    const stored = await this.d.messages.insertIncoming(session, row, events);
    if (stored && events.length > 0) this.d.onWritten?.(session.id);
  }

  /**
   * A receipt for one of our messages. It moves the message only in the chat the message is
   * stored in (the statement checks it), so its event carries the stored chat, never another
   * the sandbox named.
   */
  async statusReported(session: SessionRow, id: string, chatId: string, status: MessageStatus): Promise<void> {
    const row = await this.d.messages.setStatus(session, id, status, {}, [{ event: "message.status", data: { id, chatId, status } }], chatId);
    if (row) this.d.onWritten?.(session.id);
  }

  forget(sessionId: string): void {
    this.sendLimiter.forget(sessionId);
  }

  /**
   * Hands a message to the sandbox and answers once it is sent, failed, or SANDBOX_REQUEST_TIMEOUT_MS
   * passed: then with the message as it is stored by now. The sandbox's answer is still taken
   * after that (up to SETTLE_MS) and moves the message on when it comes.
   */
  private async handOver(session: SessionRow, m: MessageRow): Promise<MessageRow> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), this.d.requestTimeoutMs);
    });
    const settled = this.settle(session, m);
    // Its failure after the client's answer went (the database gone) is logged, not thrown.
    settled.catch((err) => this.d.log.error("message status not stored", { sessionId: session.id, messageId: m.id, error: err }));
    const first = await Promise.race([settled, waited]);
    clearTimeout(timer);
    return first ?? this.current(session, m);
  }

  /** The sandbox's answer to a send, stored. */
  private async settle(session: SessionRow, m: MessageRow): Promise<MessageRow> {
    // Stored outgoing messages are of the kinds a send takes (content() checks it).
    const message: OutgoingMessage = { id: m.id, to: m.chatId, type: m.type as OutgoingMessage["type"], text: m.text, replyTo: m.replyTo };
    if (m.caption !== null) message.caption = m.caption;
    if (m.mentions?.length) message.mentions = m.mentions;
    if (m.location) message.location = m.location;
    if (m.contacts) message.vcards = m.contacts.map((c) => ({ name: c.name, vcard: c.vcard ?? makeVcard(c.name, c.phoneNumber ?? "") }));
    if (m.poll) message.poll = { question: m.poll.question, options: m.poll.options, multiple: m.poll.multiple };
    if (m.media) {
      const { state: _state, reason: _reason, thumbnail, ...info } = m.media;
      message.media = info;
      if (thumbnail) message.thumbnail = thumbnail;
    }
    const replied = m.replyTo ? await this.d.messages.byId(session.id, m.replyTo) : undefined;
    if (replied?.chatId === m.chatId) message.quoted = { fromMe: replied.fromMe, text: replied.text?.slice(0, MAX_QUOTE_LENGTH) ?? null };
    let timestamp: number;
    try {
      ({ timestamp } = await this.d.link.request(session.id, { type: "send", message }, Math.max(this.d.requestTimeoutMs, SETTLE_MS)));
    } catch (err) {
      if (err instanceof SandboxTimeout || err instanceof SandboxUnavailable) return m; // still pending; a report or the next flush settles it
      const code = err instanceof ChannelError ? err.code : "SANDBOX_ERROR";
      if (code === "NOT_CONNECTED" || code === "ACK_TIMEOUT") return m;
      this.d.log.warn("message could not be sent", { sessionId: session.id, messageId: m.id, code });
      return (await this.move(session, m, "failed", { error: code })) ?? this.current(session, m);
    }
    // No step forward: a receipt came first. The time is still WhatsApp's (edits are judged by it).
    return (await this.move(session, m, "sent", { timestamp })) ?? (await this.d.messages.setSentAt(session.id, m.id, timestamp)) ?? this.current(session, m);
  }

  private async current(session: SessionRow, m: MessageRow): Promise<MessageRow> {
    return (await this.d.messages.byId(session.id, m.id)) ?? m;
  }

  private async move(session: SessionRow, m: MessageRow, status: MessageStatus, extra: { timestamp?: number; error?: string }) {
    const row = await this.d.messages.setStatus(session, m.id, status, extra, [{ event: "message.status", data: { id: m.id, chatId: m.chatId, status } }]);
    if (row) this.d.onWritten?.(session.id);
    return row;
  }
}
