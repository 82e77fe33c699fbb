// The rest of a conversation, built as a WhatsApp phone builds it and read as a phone reads it:
// reactions, edits and revokes (which name an earlier message by its key, written from the
// sender's point of view), locations, shared contacts (vCards), polls and poll votes. Field
// choices follow Baileys' generateWAMessageContent and whatsmeow's builders (BuildReaction,
// BuildEdit, BuildRevoke), which mirror the phones.
import { normalizeMessageContent, proto } from "@whiskeysockets/baileys";
import type { LoggedKind, LoggedPoll } from "./chat-log";
import { messageText } from "./contacts";
import { mediaContent } from "./media";

const { Type } = proto.Message.ProtocolMessage;

export interface Location {
  latitude: number;
  longitude: number;
  name?: string;
  address?: string;
}

export interface SharedContact {
  name: string;
  /** Digits only, country code first. */
  phoneNumber: string;
}

export interface PollSpec {
  question: string;
  options: string[];
  multiple: boolean;
}

/**
 * The key of an earlier message as its sender writes it: `remoteJid` the chat as the sender sees
 * it (the other party in a 1:1 chat, the group), `fromMe` whether the sender wrote the target, and
 * in a group the target's author as `participant` when that is someone else. The receiver turns
 * it to its own point of view (Baileys: cleanMessage).
 */
export function targetKey(t: { chat: string; id: string; fromMe: boolean; participant?: string }): proto.IMessageKey {
  return { remoteJid: t.chat, fromMe: t.fromMe, id: t.id, ...(!t.fromMe && t.participant ? { participant: t.participant } : {}) };
}

/** A reaction to the message with this key; "" takes the sender's reaction back. */
export const reactionMessage = (key: proto.IMessageKey, emoji: string, ms: number): proto.IMessage => ({
  reactionMessage: { key, text: emoji, senderTimestampMs: ms },
});

/** A new text for the sender's own message: a MESSAGE_EDIT protocol message carrying the edited content. */
export const editMessage = (key: proto.IMessageKey, text: string, ms: number): proto.IMessage => ({
  protocolMessage: { key, type: Type.MESSAGE_EDIT, editedMessage: { conversation: text }, timestampMs: ms },
});

/** Deletes a message for everyone: a REVOKE protocol message with the target's key. */
export const revokeMessage = (key: proto.IMessageKey): proto.IMessage => ({ protocolMessage: { key, type: Type.REVOKE } });

export const locationMessage = (l: Location): proto.IMessage => ({
  locationMessage: { degreesLatitude: l.latitude, degreesLongitude: l.longitude, ...(l.name ? { name: l.name } : {}), ...(l.address ? { address: l.address } : {}) },
});

/** vCard text values escape backslash, comma, semicolon and newlines (RFC 2426). */
const escape = (v: string) => v.replace(/[\\,;]/g, (c) => `\\${c}`).replace(/\r?\n/g, "\\n");
const unescape = (v: string) => v.replace(/\\([\\,;nN])/g, (_, c: string) => (c === "n" || c === "N" ? "\n" : c));

/** The vCard a phone shares for a WhatsApp user: the number with its `waid`, so the receiver offers to message it. */
export function vcard(c: SharedContact): string {
  return ["BEGIN:VCARD", "VERSION:3.0", `N:;${escape(c.name)};;;`, `FN:${escape(c.name)}`, `TEL;type=CELL;waid=${c.phoneNumber}:+${c.phoneNumber}`, "END:VCARD"].join("\n");
}

/** Name (FN, else N, else the message's displayName) and number (waid, else the TEL value's digits) of a vCard. */
export function parseVcard(text: string, displayName?: string | null): SharedContact {
  const lines = text.replace(/\r\n/g, "\n").replace(/\n[ \t]/g, "").split("\n");
  const prop = (name: string) => lines.find((l) => l.toUpperCase().startsWith(`${name}:`) || l.toUpperCase().startsWith(`${name};`));
  const value = (line: string | undefined) => (line === undefined ? undefined : line.slice(line.indexOf(":") + 1));
  const fn = value(prop("FN"));
  const n = value(prop("N"))
    ?.split(";")
    .filter(Boolean)
    .reverse()
    .join(" ");
  const tel = prop("TEL");
  const params = tel?.slice(0, tel.indexOf(":")) ?? "";
  const waid = /;waid=(\d+)/i.exec(params)?.[1];
  return { name: unescape(fn || n || displayName || ""), phoneNumber: waid ?? (value(tel) ?? "").replace(/\D/g, "") };
}

/** One contact: contactMessage; several: contactsArrayMessage, as phones share them. */
export function contactsMessage(contacts: SharedContact[]): proto.IMessage {
  const cards = contacts.map((c) => ({ displayName: c.name, vcard: vcard(c) }));
  if (cards.length === 1) return { contactMessage: cards[0] };
  return { contactsArrayMessage: { displayName: `${cards.length} contacts`, contacts: cards } };
}

/**
 * A poll with its secret in messageContextInfo, as Baileys and phones send it: single choice as
 * pollCreationMessageV3 (selectableOptionsCount 1), multiple choice as pollCreationMessage (0: any number).
 */
export function pollMessage(p: PollSpec, secret: Uint8Array): proto.IMessage {
  const creation = { name: p.question, options: p.options.map((optionName) => ({ optionName })), selectableOptionsCount: p.multiple ? 0 : 1 };
  return { messageContextInfo: { messageSecret: secret }, ...(p.multiple ? { pollCreationMessage: creation } : { pollCreationMessageV3: creation }) };
}

/** A vote on the poll with this key, encrypted (poll-crypto.ts). */
export const pollVoteMessage = (key: proto.IMessageKey, vote: { encPayload: Uint8Array; encIv: Uint8Array }, ms: number): proto.IMessage => ({
  pollUpdateMessage: { pollCreationMessageKey: key, vote, senderTimestampMs: ms },
});

/** What a message of these kinds says, read from what a phone decrypted. */
export type Conversational =
  | { type: "reaction"; targetId: string; emoji: string }
  | { type: "edit"; targetId: string; text: string }
  | { type: "revoke"; targetId: string; key: proto.IMessageKey }
  | { type: "location"; location: Location }
  | { type: "contact"; contacts: SharedContact[] }
  | { type: "poll"; poll: PollSpec; secret?: Uint8Array }
  | { type: "poll_vote"; targetId: string; vote: proto.Message.IPollEncValue };

const inner = (m: proto.IMessage) => normalizeMessageContent(m.deviceSentMessage?.message ?? m) ?? m;

function pollOf(m: proto.IMessage): { spec: PollSpec; secret?: Uint8Array } | undefined {
  const c = inner(m);
  const p = c.pollCreationMessage ?? c.pollCreationMessageV2 ?? c.pollCreationMessageV3;
  if (!p) return undefined;
  const secret = c.messageContextInfo?.messageSecret ?? m.messageContextInfo?.messageSecret;
  const spec = { question: p.name ?? "", options: (p.options ?? []).map((o) => o.optionName ?? ""), multiple: (p.selectableOptionsCount ?? 0) !== 1 };
  return { spec, ...(secret?.length ? { secret: Uint8Array.from(secret) } : {}) };
}

/** Reads a reaction, edit, revoke, location, contact card(s), poll or poll vote; undefined for other messages. */
export function readConversational(m: proto.IMessage): Conversational | undefined {
  const c = inner(m);
  if (c.reactionMessage) return { type: "reaction", targetId: c.reactionMessage.key?.id ?? "", emoji: c.reactionMessage.text ?? "" };
  const p = c.protocolMessage;
  if (p?.type === Type.REVOKE && p.key) return { type: "revoke", targetId: p.key.id ?? "", key: p.key };
  if (p?.type === Type.MESSAGE_EDIT && p.key && p.editedMessage) {
    const edited = p.editedMessage;
    const caption = mediaContent(edited)?.content.caption;
    return { type: "edit", targetId: p.key.id ?? "", text: messageText(edited) ?? caption ?? "" };
  }
  if (c.locationMessage) {
    const l = c.locationMessage;
    const location: Location = { latitude: l.degreesLatitude ?? 0, longitude: l.degreesLongitude ?? 0 };
    if (l.name) location.name = l.name;
    if (l.address) location.address = l.address;
    return { type: "location", location };
  }
  if (c.contactMessage) return { type: "contact", contacts: [parseVcard(c.contactMessage.vcard ?? "", c.contactMessage.displayName)] };
  if (c.contactsArrayMessage) return { type: "contact", contacts: (c.contactsArrayMessage.contacts ?? []).map((x) => parseVcard(x.vcard ?? "", x.displayName)) };
  const poll = pollOf(m);
  if (poll) return { type: "poll", poll: poll.spec, ...(poll.secret ? { secret: poll.secret } : {}) };
  if (c.pollUpdateMessage) return { type: "poll_vote", targetId: c.pollUpdateMessage.pollCreationMessageKey?.id ?? "", vote: c.pollUpdateMessage.vote ?? {} };
  return undefined;
}

/** How a message counts in the chat log: what a later reaction, edit, revoke or vote may name (reactions and the like name nothing). */
export function loggable(m: proto.IMessage): { kind: LoggedKind; poll?: LoggedPoll } | undefined {
  const c = inner(m);
  const poll = pollOf(m);
  if (poll) return { kind: "poll", ...(poll.secret ? { poll: { ...poll.spec, secret: poll.secret } } : {}) };
  if (c.locationMessage) return { kind: "location" };
  if (c.contactMessage || c.contactsArrayMessage) return { kind: "contact" };
  if (messageText(m) !== undefined) return { kind: "text" };
  if (mediaContent(m)) return { kind: "media" };
  return undefined;
}
