// What comes in from WhatsApp, as channel reports: what the account receives (or its phone
// sends) becomes a `message` report (a media message's file follows: media-files.ts), WhatsApp's receipts for our messages `message_status`
// reports, and the history sync and chat and contact changes `chats` and `contacts` reports.
import { proto, toNumber, type Chat, type Contact, type WAMessage, type WAMessageUpdate, type WASocket } from "@whiskeysockets/baileys";
import {
  clip,
  MAX_FILE_NAME_LENGTH,
  MAX_CONTACT_CARDS,
  MAX_MENTIONS,
  MAX_NAME_LENGTH,
  MAX_OPTION_LENGTH,
  MAX_POLL_OPTIONS,
  MAX_SYNC_BATCH,
  MAX_TEXT_LENGTH,
  type ChatReport,
  type ContactReport,
  type IncomingMessage,
  type MediaInfo,
  type Report,
} from "../src/channel/frames";
import { readVcard } from "../src/model/vcard";
import { isPerson, userPhone } from "./jid";

/**
 * Hands Baileys' events about incoming messages, receipts, chats and contacts to `report`, and a
 * media message (once reported) to `onMedia`, which brings its file.
 */
export function reportIncoming(
  ev: WASocket["ev"],
  report: (r: Report) => void,
  nameOf: NameOf,
  onMedia: (m: WAMessage, info: MediaInfo) => void,
): void {
  ev.on("messaging-history.set", ({ chats, contacts }) => {
    batch(report, "contacts", contacts.filter((c) => isPerson(c.id)).map(toContact));
    batch(report, "chats", chats.filter((c) => c.id).map((c) => toChat(c)));
  });
  ev.on("contacts.upsert", (list) => batch(report, "contacts", list.filter((c) => isPerson(c.id)).map(toContact)));
  ev.on("contacts.update", (list) => batch(report, "contacts", list.filter((c) => isPerson(c.id)).map((c) => toContact(c as Contact))));
  ev.on("chats.upsert", (list) => batch(report, "chats", list.filter((c) => c.id).map((c) => toChat(c))));
  ev.on("chats.update", (list) =>
    batch(
      report,
      "chats",
      list
        .filter((c) => c.id)
        .map((c) => chatUpdate(c as ChatLike))
        .filter((c): c is ChatReport => c !== null),
    ),
  );
  ev.on("messages.upsert", ({ messages }) => {
    for (const m of messages) {
      const message = toIncoming(m, nameOf);
      if (message) report({ type: "message", message });
      if (message?.media) onMedia(m, message.media);
      const status = ownStatus(m);
      if (status) report(status);
    }
  });
  ev.on("messages.update", (updates) => {
    for (const r of toStatusReports(updates)) report(r);
  });
}

/** A history sync of a large account holds tens of thousands of rows: one report per MAX_SYNC_BATCH. */
function batch(report: (r: Report) => void, type: "contacts" | "chats", items: (ContactReport | ChatReport)[]): void {
  for (let i = 0; i < items.length; i += MAX_SYNC_BATCH) {
    const slice = items.slice(i, i + MAX_SYNC_BATCH);
    report(type === "contacts" ? { type, contacts: slice as ContactReport[] } : { type, chats: slice as ChatReport[] });
  }
}

/** The channel's kind of a WhatsApp media message, and its part of the message. */
function mediaOf(content: proto.IMessage): { type: IncomingMessage["type"]; part: MediaPart } | null {
  const doc = content.documentWithCaptionMessage?.message?.documentMessage ?? content.documentMessage;
  if (content.imageMessage) return { type: "image", part: content.imageMessage };
  if (content.videoMessage) return { type: "video", part: content.videoMessage };
  if (content.audioMessage) return { type: content.audioMessage.ptt ? "voice" : "audio", part: content.audioMessage };
  if (content.stickerMessage) return { type: "sticker", part: content.stickerMessage };
  if (doc) return { type: "document", part: doc };
  return null;
}

type MediaPart = {
  mimetype?: string | null;
  fileLength?: number | Long | null;
  fileSha256?: Uint8Array | null;
  caption?: string | null;
  fileName?: string | null;
  width?: number | null;
  height?: number | null;
  seconds?: number | null;
};
type Long = { toNumber(): number };

/** What a media message says of its file (the bytes come later, downloaded and checked against `sha256`). */
export function mediaInfo(part: MediaPart): MediaInfo | null {
  if (!part.fileSha256 || part.fileSha256.length !== 32 || part.fileLength === null || part.fileLength === undefined) return null;
  const info: MediaInfo = {
    mimetype: clip(part.mimetype?.replace(/[^\x21-\x7e ]/g, "").split(";")[0]!.trim() || "application/octet-stream", 255),
    size: toNumber(part.fileLength as number),
    sha256: Buffer.from(part.fileSha256).toString("hex"),
  };
  if (part.fileName) info.fileName = clip(part.fileName.replace(/\u0000/g, ""), MAX_FILE_NAME_LENGTH);
  if (part.width) info.width = Math.min(100_000, part.width);
  if (part.height) info.height = Math.min(100_000, part.height);
  if (part.seconds) info.seconds = Math.min(10_000_000, part.seconds);
  return info;
}

/** What a stored media message says of its file, or null for another kind. */
export function mediaInfoOf(m: WAMessage): MediaInfo | null {
  const media = m.message ? mediaOf(m.message) : null;
  return media ? mediaInfo(media.part) : null;
}

/** A member's jid as the API names it: a phone number where known, else the jid. */
export type NameOf = (jid: string) => string;

const plainName: NameOf = (jid) => userPhone(jid) ?? jid;

/** A text or media message as the channel carries it; null for kinds not carried yet (reactions…). */
export function toIncoming(m: WAMessage, nameOf: NameOf = plainName): IncomingMessage | null {
  const id = m.key.id;
  const chatId = m.key.remoteJid;
  const content = m.message;
  if (!id || !chatId || !content) return null;
  const base: Pick<IncomingMessage, "id" | "chatId" | "fromMe" | "timestamp" | "author" | "mentions"> = {
    id,
    chatId,
    fromMe: !!m.key.fromMe,
    timestamp: m.messageTimestamp ? toNumber(m.messageTimestamp) : Math.floor(Date.now() / 1000),
  };
  // In a group, the member who wrote: WhatsApp gives its LID and, beside it, its phone number.
  const author = chatId.endsWith("@g.us") && !m.key.fromMe ? (m.key.participantAlt ?? m.key.participant) : undefined;
  if (author) base.author = nameOf(author);
  const mentioned = contextOf(content)?.mentionedJid?.filter((j): j is string => typeof j === "string" && /^[\x21-\x7e]{1,256}$/.test(j));
  if (mentioned?.length) base.mentions = mentioned.slice(0, MAX_MENTIONS).map(nameOf);
  const media = mediaOf(content);
  if (media) {
    const info = mediaInfo(media.part);
    if (!info) return null;
    const caption = media.part.caption ? clip(media.part.caption.replace(/\u0000/g, ""), MAX_TEXT_LENGTH) : undefined;
    return { ...base, type: media.type, text: null, ...(caption ? { caption } : {}), media: info, replyTo: contextOf(content)?.stanzaId ?? null };
  }
  const other = otherKind(content);
  if (other) return { ...base, text: null, replyTo: contextOf(content)?.stanzaId ?? null, ...other };
  const text = content.conversation ?? content.extendedTextMessage?.text;
  if (typeof text !== "string") return null;
  return { ...base, type: "text", text, replyTo: content.extendedTextMessage?.contextInfo?.stanzaId ?? null };
}

const str = (v: unknown, max: number) => (typeof v === "string" && v ? clip(v.replace(/\u0000/g, ""), max) : undefined);
const coordinate = (v: unknown, max: number) => (typeof v === "number" && Number.isFinite(v) && Math.abs(v) <= max ? v : null);

/** A location (a live one as its last position), contact cards or a poll, as the channel carries them. */
function otherKind(c: proto.IMessage): Pick<IncomingMessage, "type" | "location" | "contacts" | "poll"> | null {
  const loc = c.locationMessage ?? c.liveLocationMessage;
  if (loc) {
    const latitude = coordinate(loc.degreesLatitude, 90);
    const longitude = coordinate(loc.degreesLongitude, 180);
    if (latitude === null || longitude === null) return null;
    const name = str((loc as proto.Message.ILocationMessage).name, MAX_NAME_LENGTH);
    const address = str((loc as proto.Message.ILocationMessage).address, MAX_NAME_LENGTH);
    return { type: "location", location: { latitude, longitude, ...(name ? { name } : {}), ...(address ? { address } : {}) } };
  }
  const cards = c.contactMessage ? [c.contactMessage] : (c.contactsArrayMessage?.contacts ?? null);
  if (cards) return { type: "contact", contacts: cards.slice(0, MAX_CONTACT_CARDS).map((card) => contactCard(card.displayName, card.vcard)) };
  const poll = c.pollCreationMessage ?? c.pollCreationMessageV2 ?? c.pollCreationMessageV3;
  if (poll) {
    const options = (poll.options ?? []).slice(0, MAX_POLL_OPTIONS).map((o) => str(o.optionName, MAX_OPTION_LENGTH) ?? "");
    if (options.length === 0) return null;
    return { type: "poll", poll: { question: str(poll.name, MAX_NAME_LENGTH) ?? "", options, multiple: (poll.selectableOptionsCount ?? 0) !== 1 } };
  }
  return null;
}

/** A contact card's name and number: its display name, else the vCard's, and the vCard's number. */
export function contactCard(displayName: string | null | undefined, vcard: string | null | undefined): { name: string; phoneNumber: string | null } {
  const read = typeof vcard === "string" ? readVcard(vcard) : { name: null, phoneNumber: null };
  return { name: str(displayName, MAX_NAME_LENGTH) ?? str(read.name, MAX_NAME_LENGTH) ?? "", phoneNumber: read.phoneNumber };
}

function contextOf(content: proto.IMessage): proto.IContextInfo | null | undefined {
  const doc = content.documentWithCaptionMessage?.message?.documentMessage ?? content.documentMessage;
  return (
    content.extendedTextMessage?.contextInfo ??
    content.locationMessage?.contextInfo ??
    content.contactMessage?.contextInfo ??
    content.imageMessage?.contextInfo ??
    content.videoMessage?.contextInfo ??
    content.audioMessage?.contextInfo ??
    doc?.contextInfo ??
    content.stickerMessage?.contextInfo
  );
}

const statusOf: Partial<Record<number, "sent" | "delivered" | "read" | "failed">> = {
  [proto.WebMessageInfo.Status.ERROR]: "failed",
  [proto.WebMessageInfo.Status.SERVER_ACK]: "sent",
  [proto.WebMessageInfo.Status.DELIVERY_ACK]: "delivered",
  [proto.WebMessageInfo.Status.READ]: "read",
  [proto.WebMessageInfo.Status.PLAYED]: "read",
};

/**
 * The status a message of ours arrives with: a receipt that comes right after the send reaches
 * Baileys before it emitted the message, and it then carries the status instead of an update.
 */
export function ownStatus(m: WAMessage): Report | null {
  const status = typeof m.status === "number" ? statusOf[m.status] : undefined;
  if (!status || status === "sent" || !m.key.fromMe || !m.key.id || !m.key.remoteJid) return null;
  return { type: "message_status", id: m.key.id, chatId: m.key.remoteJid, status };
}

/** Status reports for our own messages' receipts. */
export function toStatusReports(updates: WAMessageUpdate[]): Report[] {
  const reports: Report[] = [];
  for (const { key, update } of updates) {
    const status = typeof update.status === "number" ? statusOf[update.status] : undefined;
    if (!status || !key.fromMe || !key.id || !key.remoteJid) continue;
    reports.push({ type: "message_status", id: key.id, chatId: key.remoteJid, status });
  }
  return reports;
}

export function toContact(c: Partial<Contact> & { id: string }): ContactReport {
  return {
    id: c.id,
    name: c.name ?? null,
    notify: c.notify ?? null,
    verifiedName: c.verifiedName ?? null,
    phone: userPhone(c.phoneNumber ?? c.id),
  };
}

type ChatLike = Partial<Omit<Chat, "id">> & { id?: string | null };

export function toChat(c: ChatLike): ChatReport {
  const ts = c.conversationTimestamp;
  const id = c.id ?? "";
  return {
    id,
    name: c.name ?? null,
    isGroup: id.endsWith("@g.us"),
    unreadCount: c.unreadCount === undefined || c.unreadCount === null ? null : Math.max(0, Number(c.unreadCount)),
    timestamp: ts === undefined || ts === null ? null : toNumber(ts),
  };
}

/** What Baileys puts in the `chats.update` it derives from each message it processes. */
const FROM_A_MESSAGE = new Set(["id", "messages", "conversationTimestamp", "unreadCount"]);

/**
 * A `chats.update` as a chat report, or null when the message reports already say it all. In an
 * update, Baileys' `unreadCount` is not a total: a positive one is "one more message" (its own
 * store adds it up), a negative one "marked unread"; only 0 (read elsewhere) is a count. The API
 * counts unread messages as it stores them.
 */
export function chatUpdate(u: ChatLike): ChatReport | null {
  const messages = (u.messages ?? []).map((m) => m.message);
  const reported = messages.length > 0 && messages.every((m) => m && toIncoming(m as WAMessage));
  if (reported && Object.keys(u).every((k) => FROM_A_MESSAGE.has(k))) return null;
  return { ...toChat(u), unreadCount: u.unreadCount === 0 ? 0 : null };
}
