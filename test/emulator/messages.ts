// 1:1 messages between linked devices and the directory's contacts, and their receipts. The
// server keeps what it owes each device in an outbox until the device acknowledges it, and
// delivers it on the device's connection now or when it next logs in (offline delivery).
import { normalizeMessageContent, proto } from "@whiskeysockets/baileys";
import { directChat } from "./chat-log";
import { party, type SignalParty } from "./contacts";
import { loggable } from "./conversation";
import type { EmulatorLog } from "./log";
import { mediaContent } from "./media";
import { bytes, child, children, node, S_WHATSAPP_NET, type BinaryNode } from "./nodes";
import { recordFromDevice } from "./received";
import { deviceJid, type Device, type EmulatorState, type Online } from "./state";

export interface OutboxEntry {
  id: string;
  /** A message goes when the device sends its receipt; a receipt or notification goes when the device acks it. */
  kind: "message" | "receipt" | "notification";
  /** Builds the stanza on first delivery (a message can only be encrypted once the device has
   * pre-keys), and again over a new session when the device asks for a retry. */
  build(fresh: boolean): Promise<BinaryNode>;
  needsPreKeys: boolean;
  /** Queued while the device was away: it goes out marked `offline`, as WhatsApp marks it. */
  offline: boolean;
  stanza?: BinaryNode;
  /** The connection it went out on: a later connection gets it again, as WhatsApp redelivers. */
  sentOn?: Online;
  retries: number;
}

/** Resends per message after retry receipts, as a phone gives up after a few. */
const MAX_RETRIES = 3;
const chains = new WeakMap<Device, Promise<unknown>>();
/** What senders remember having sent each device, by id, to answer its retry receipts after the outbox let go. */
const sent = new WeakMap<Device, Map<string, OutboxEntry>>();
const REMEMBERED = 200;

/** A message id the way a phone makes them: 32 upper-case hex digits. */
export function messageId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex").toUpperCase();
}

const isOnline = (state: EmulatorState, device: Device) => {
  const conn = state.online.get(deviceJid(device));
  return !!conn && !conn.closed && !device.unlinked;
};

export function enqueue(state: EmulatorState, device: Device, e: Omit<OutboxEntry, "offline" | "retries">): void {
  const jid = deviceJid(device);
  const entry: OutboxEntry = { ...e, offline: !isOnline(state, device), retries: 0 };
  const list = state.outbox.get(jid) ?? [];
  list.push(entry);
  state.outbox.set(jid, list);
  if (entry.kind !== "message") return;
  const memory = sent.get(device) ?? new Map<string, OutboxEntry>();
  memory.set(entry.id, entry);
  if (memory.size > REMEMBERED) memory.delete(memory.keys().next().value!);
  sent.set(device, memory);
}

/** Runs `work` after every earlier delivery to the device, so encryption follows the queue's order. */
function serial<T>(device: Device, work: () => Promise<T>): Promise<T> {
  const run = (chains.get(device) ?? Promise.resolve()).then(work);
  chains.set(device, run.catch(() => undefined));
  return run;
}

/**
 * Sends the device, in order, what its outbox holds that this connection has not had yet, if it
 * is online. Resolves with the count sent.
 */
export function deliver(state: EmulatorState, device: Device, log: EmulatorLog): Promise<number> {
  return serial(device, async () => {
    const jid = deviceJid(device);
    const conn = state.online.get(jid);
    if (!conn || !isOnline(state, device)) return 0;
    let sent = 0;
    for (const entry of [...(state.outbox.get(jid) ?? [])]) {
      if (entry.sentOn === conn) continue;
      if (!entry.stanza) {
        if (entry.needsPreKeys && !device.bundle) break; // keep the order: wait for the pre-key upload
        try {
          entry.stanza = await entry.build(false);
        } catch (err) {
          log.warn("could not build a stanza for a device; dropped", { device: jid, id: entry.id, error: String(err) });
          drop(state, device, (e) => e === entry);
          continue;
        }
      }
      const s = entry.stanza;
      conn.sendNode(entry.offline ? { ...s, attrs: { ...s.attrs, offline: "1" } } : s);
      entry.sentOn = conn;
      sent++;
    }
    return sent;
  });
}

const settleWatchers = new WeakMap<Device, Set<() => void>>();

function drop(state: EmulatorState, device: Device, match: (e: OutboxEntry) => boolean): void {
  const jid = deviceJid(device);
  const left = (state.outbox.get(jid) ?? []).filter((e) => !match(e));
  if (left.length) state.outbox.set(jid, left);
  else state.outbox.delete(jid);
  for (const check of settleWatchers.get(device) ?? []) check();
}

/** Resolves once the device has settled these entries (receipt or nack), or after `ms` regardless. */
export function settled(state: EmulatorState, device: Device, ids: string[], ms: number): Promise<void> {
  const watchers = settleWatchers.get(device) ?? new Set<() => void>();
  settleWatchers.set(device, watchers);
  return new Promise((resolve) => {
    const done = () => {
      watchers.delete(check);
      clearTimeout(timer);
      resolve();
    };
    const check = () => {
      if (!(state.outbox.get(deviceJid(device)) ?? []).some((e) => ids.includes(e.id))) done();
    };
    const timer = setTimeout(done, ms);
    watchers.add(check);
    check();
  });
}

/** Queues a Signal-encrypted message from `sender` (a party) for the device, under `id`. */
export function enqueueMessage(
  state: EmulatorState,
  device: Device,
  m: { id: string; sender: SignalParty; message: proto.IMessage; attrs?: Record<string, string> },
): void {
  const t = String(state.now());
  const kind = stanzaKind(m.message);
  enqueue(state, device, {
    id: m.id,
    kind: "message",
    needsPreKeys: true,
    async build(fresh) {
      const enc = await m.sender.encryptFor(device, m.message, { fresh });
      return node("message", { id: m.id, from: m.sender.jid, ...kind.message, t, ...m.attrs }, [node("enc", { v: "2", type: enc.type, ...kind.enc }, enc.ciphertext)]);
    },
  });
}

/** The `mediatype` of a message's enc node, as Baileys names it when it sends (image, video, ptt, audio, document, sticker, vcard, contact_array). */
export function stanzaMediaType(message: proto.IMessage): string | undefined {
  const found = mediaContent(message);
  if (found?.kind === "voice") return "ptt";
  if (found?.kind === "video" && found.content.gifPlayback) return "gif";
  if (found) return found.kind;
  const m = normalizeMessageContent(message);
  if (m?.contactMessage) return "vcard";
  if (m?.contactsArrayMessage) return "contact_array";
  return undefined;
}

/**
 * The attributes WhatsApp puts on a message stanza and its `enc` for this content (whatsmeow's
 * getTypeFromMessage, getEditAttribute): `type` reaction, poll (creations and votes), media or
 * text; `edit` 1 for an edit, 7 for the sender's revoke (and a reaction taken back), 8 for an
 * admin's revoke of another member's message; `decrypt-fail="hide"` on edits, revokes, reactions
 * and votes, which a receiver that cannot decrypt them need not show.
 */
export function stanzaKind(message: proto.IMessage): { message: Record<string, string>; enc: Record<string, string> } {
  const m = normalizeMessageContent(message) ?? message;
  const hide = { "decrypt-fail": "hide" };
  if (m.reactionMessage) return { message: { type: "reaction", ...(m.reactionMessage.text ? {} : { edit: "7" }) }, enc: hide };
  if (m.pollUpdateMessage) return { message: { type: "poll" }, enc: hide };
  if (m.pollCreationMessage || m.pollCreationMessageV2 || m.pollCreationMessageV3) return { message: { type: "poll" }, enc: {} };
  const p = m.protocolMessage;
  if (p?.type === proto.Message.ProtocolMessage.Type.REVOKE && p.key) return { message: { type: "text", edit: p.key.fromMe ? "7" : "8" }, enc: hide };
  if (p?.type === proto.Message.ProtocolMessage.Type.MESSAGE_EDIT && p.editedMessage) return { message: { type: "text", edit: "1" }, enc: hide };
  const mediatype = stanzaMediaType(message);
  return mediatype ? { message: { type: "media" }, enc: { mediatype } } : { message: { type: "text" }, enc: {} };
}

/**
 * A contact sends the account of `phone` a text, or a Message (media, see media.ts): each linked
 * device gets it Signal-encrypted, under one id.
 */
export async function sendFromContact(state: EmulatorState, log: EmulatorLog, contact: string, phone: string, content: string | proto.IMessage): Promise<string> {
  const id = messageId();
  const sender = party(state, contact);
  const devices = state.linkedDevices(phone);
  const message = typeof content === "string" ? { conversation: content } : content;
  const logged = loggable(message);
  if (logged) state.chats.remember(directChat(contact, phone), { id, author: contact, ...logged });
  for (const device of devices) enqueueMessage(state, device, { id, sender, message });
  await Promise.all(devices.map((d) => deliver(state, d, log)));
  log.info("contact sent a message", { from: contact, to: phone, id, devices: devices.length, ...stanzaKind(message).message });
  return id;
}

/** Queues a server notification (`w:gp2` and the like) for each device and delivers it to those online; each device acks it. */
export async function notifyDevices(state: EmulatorState, log: EmulatorLog, devices: Device[], stanza: BinaryNode): Promise<void> {
  for (const device of devices) enqueue(state, device, { id: stanza.attrs.id ?? "", kind: "notification", needsPreKeys: false, build: async () => stanza });
  await Promise.all(devices.map((d) => deliver(state, d, log)));
}

/** A contact read messages the account of `phone` sent it: each linked device gets a read receipt. */
export async function sendRead(state: EmulatorState, log: EmulatorLog, contact: string, phone: string, ids: string[]): Promise<void> {
  const [first, ...rest] = ids;
  const stanza = node(
    "receipt",
    { id: first!, from: `${contact}@s.whatsapp.net`, type: "read", t: String(state.now()) },
    rest.length ? [node("list", {}, rest.map((id) => node("item", { id })))] : undefined,
  );
  const devices = state.linkedDevices(phone);
  for (const device of devices) enqueue(state, device, { id: first!, kind: "receipt", needsPreKeys: false, build: async () => stanza });
  await Promise.all(devices.map((d) => deliver(state, d, log)));
}

/**
 * A `message` a device sent. The server acks it (from the chat, as WhatsApp does), or refuses it
 * with error 479 when the chat is not a number on WhatsApp. The chat's primary device decrypts its
 * copy, keeps what it says (received.ts; a media file downloaded and decrypted first) and answers a delivery receipt at once. Copies for the sender's own phone
 * (the sent-message sync) are accepted and not read.
 */
export async function onDeviceMessage(state: EmulatorState, log: EmulatorLog, device: Device, conn: Online, n: BinaryNode): Promise<void> {
  const id = n.attrs.id ?? "";
  const to = n.attrs.to ?? "";
  const number = state.numberOf(to);
  const t = String(state.now());
  if (!number || !state.isRegistered(number)) {
    log.info("message to a number not on WhatsApp refused", { device: deviceJid(device), to, id });
    conn.sendNode(node("ack", { id, class: "message", from: to || S_WHATSAPP_NET, t, error: "479" }));
    return;
  }
  conn.sendNode(node("ack", { id, class: "message", from: to, t }));
  if (number === device.phone) return;
  const reading = readDeviceMessage(state, log, device, conn, n, number, t);
  state.chats.track(directChat(device.phone, number), id, reading);
  return reading;
}

/** The chat's primary device decrypts its copy, keeps what it says and answers a delivery receipt. */
async function readDeviceMessage(state: EmulatorState, log: EmulatorLog, device: Device, conn: Online, n: BinaryNode, number: string, t: string): Promise<void> {
  const id = n.attrs.id ?? "";
  const to = n.attrs.to ?? "";
  // Fan-out stanzas carry one `enc` per device under `participants`; a resend to one device carries it directly.
  const encs = [
    ...children(child(n, "participants"), "to")
      .filter((p) => state.numberOf(p.attrs.jid ?? "") === number && !/:\d+@/.test(p.attrs.jid ?? ""))
      .map((p) => child(p, "enc")),
    child(n, "enc"),
  ].filter((e): e is BinaryNode => !!e);
  const enc = encs[0];
  if (!enc) {
    log.warn("message without a copy for its chat", { device: deviceJid(device), to, id });
    return;
  }
  const recipient = party(state, number);
  let message: proto.Message;
  try {
    message = await recipient.decryptFrom(device, enc.attrs.type ?? "", bytes(enc));
  } catch (err) {
    log.warn("contact could not decrypt a message", { device: deviceJid(device), to, id, type: enc.attrs.type, error: String(err) });
    return;
  }
  await recordFromDevice(state, log, recipient, { id, from: device.phone, timestamp: Number(t) }, message, { chat: directChat(device.phone, number), addressing: "pn" });
  conn.sendNode(node("receipt", { id, from: to, t: String(state.now()) }));
}

/**
 * A device's `receipt` for messages it got settles them in its outbox, except a retry receipt: the
 * device could not decrypt, so the sender starts a new session and sends the message again (the
 * device nacks the failed copy too, which settles the outbox, so the sender's memory answers).
 */
export function onDeviceReceipt(state: EmulatorState, log: EmulatorLog, device: Device, n: BinaryNode): Promise<void> | void {
  const ids = new Set([n.attrs.id ?? "", ...children(child(n, "list"), "item").map((i) => i.attrs.id ?? "")]);
  if (n.attrs.type !== "retry") return drop(state, device, (e) => e.kind === "message" && ids.has(e.id));
  return serial(device, async () => {
    const conn = state.online.get(deviceJid(device));
    const entry = sent.get(device)?.get(n.attrs.id ?? "");
    if (!entry || !conn || conn.closed) return;
    if (entry.retries >= MAX_RETRIES) {
      log.warn("device still cannot decrypt a message; given up", { device: deviceJid(device), id: entry.id });
      sent.get(device)?.delete(entry.id);
      return drop(state, device, (e) => e === entry);
    }
    entry.retries++;
    const s = await entry.build(true);
    const [enc, ...rest] = s.content as BinaryNode[];
    entry.stanza = { ...s, content: [{ ...enc!, attrs: { ...enc!.attrs, count: String(entry.retries) } }, ...rest] };
    conn.sendNode(entry.stanza);
    entry.sentOn = conn;
  });
}

/** A device's `ack`: for a receipt or notification it settles it; for a message, the device gave up on it. */
export function onDeviceAck(state: EmulatorState, device: Device, n: BinaryNode): void {
  const kind = (["receipt", "message", "notification"] as const).find((k) => k === n.attrs.class);
  if (kind) drop(state, device, (e) => e.kind === kind && e.id === n.attrs.id);
}
