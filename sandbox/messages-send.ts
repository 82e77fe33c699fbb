// What goes out to WhatsApp: the API's `send` requests go out under the API's own id, at most
// once, confirmed by the server's ack; and the read receipts the API asks us to send.
import { appendFileSync, readFileSync } from "node:fs";
import type { AnyMessageContent, WAMessage, WASocket } from "@whiskeysockets/baileys";
import type { Readable } from "node:stream";
import type { MediaInfo, OutgoingMessage } from "../src/channel/frames";
import { fileToSend, type ApiFiles } from "./media-files";

/** Long enough for a slow server; the API answers `pending` before this anyway. */
const ACK_TIMEOUT_MS = 15_000;

/**
 * Ids this sandbox has handed to WhatsApp, kept on the volume (one line each): a send asked
 * again (the API restarted before it stored the answer) is answered, not sent twice.
 */
export class SentLedger {
  private readonly sent = new Map<string, number>();

  constructor(private readonly file: string) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {}
    for (const line of text.split("\n")) {
      const [id, ts] = line.split(" ");
      if (id) this.sent.set(id, Number(ts) || 0);
    }
  }

  get(id: string): number | undefined {
    return this.sent.get(id);
  }

  add(id: string, timestamp: number): void {
    appendFileSync(this.file, `${id} ${timestamp}\n`);
    this.sent.set(id, timestamp);
  }
}

/** Read receipts for messages the account received in `chatId`. */
export async function sendReadReceipts(sock: WASocket, chatId: string, ids: string[]): Promise<void> {
  await sock.readMessages(ids.map((id) => ({ remoteJid: chatId, id, fromMe: false })));
}

function coded(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Sends in progress by id: the API asks again for a message whose first answer it stopped waiting for. */
const sending = new Map<string, Promise<{ timestamp: number }>>();

/** Sends one message under its id, once; resolves with the server's timestamp when it acked. */
export function sendOnce(sock: WASocket, ledger: SentLedger, m: OutgoingMessage, files: ApiFiles, onSent?: (sent: WAMessage | undefined) => void): Promise<{ timestamp: number }> {
  let send = sending.get(m.id);
  if (!send) {
    send = sendNow(sock, ledger, m, files, onSent).finally(() => sending.delete(m.id));
    sending.set(m.id, send);
  }
  return send;
}

async function sendNow(sock: WASocket, ledger: SentLedger, m: OutgoingMessage, files: ApiFiles, onSent?: (sent: WAMessage | undefined) => void): Promise<{ timestamp: number }> {
  const already = ledger.get(m.id);
  if (already !== undefined) return { timestamp: already };
  if (m.to.endsWith("@s.whatsapp.net") && !(await onWhatsApp(sock, m.to))) throw coded("NOT_ON_WHATSAPP", "the number is not on WhatsApp");
  // A file comes down from the API before anything is marked sent: a failure here leaves it pending.
  const mentions = m.mentions?.length ? { mentions: m.mentions } : {};
  const content = { ...(m.media ? await mediaContent(m, m.media, await fileToSend(files, m.id)) : (otherContent(m) ?? { text: m.text ?? "" })), ...mentions } as AnyMessageContent;
  const acked = serverAck(sock, m.id);
  // Marked before it leaves: a crash after this line may lose the message, never send it twice.
  ledger.add(m.id, Math.floor(Date.now() / 1000));
  const quoted = m.replyTo ? { key: { remoteJid: m.to, id: m.replyTo, fromMe: m.quoted?.fromMe ?? false }, message: { conversation: m.quoted?.text ?? "" } } : undefined;
  try {
    const sent = await sock.sendMessage(m.to, content, { messageId: m.id, ...(quoted ? { quoted } : {}) });
    onSent?.(sent);
  } catch (err) {
    acked.cancel();
    throw coded("SEND_FAILED", err instanceof Error ? err.message : String(err));
  }
  return { timestamp: await acked.done };
}

/** Numbers found on WhatsApp, remembered for a while: a conversation does not ask before every message. */
const known = new Map<string, number>();
const KNOWN_MS = 10 * 60_000;

async function onWhatsApp(sock: WASocket, jid: string): Promise<boolean> {
  const at = known.get(jid);
  if (at !== undefined && Date.now() - at < KNOWN_MS) return true;
  const [found] = (await sock.onWhatsApp(jid)) ?? [];
  if (!found?.exists) return false;
  if (known.size > 10_000) known.clear();
  known.set(jid, Date.now());
  return true;
}

/** The server's `ack` of a message we sent (Baileys only surfaces failed ones). */
function serverAck(sock: WASocket, id: string): { done: Promise<number>; cancel(): void } {
  let listener: ((node: { attrs: Record<string, string> }) => void) | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = () => {
    if (listener) sock.ws.off("CB:ack,class:message", listener);
    clearTimeout(timer);
  };
  const done = new Promise<number>((resolve, reject) => {
    listener = (node) => {
      if (node.attrs.id !== id) return;
      stop();
      if (node.attrs.error) reject(coded("SEND_REJECTED", `WhatsApp refused the message (${node.attrs.error})`));
      else resolve(Number(node.attrs.t) || Math.floor(Date.now() / 1000));
    };
    sock.ws.on("CB:ack,class:message", listener);
    timer = setTimeout(() => {
      stop();
      reject(coded("ACK_TIMEOUT", "WhatsApp did not acknowledge the message in time"));
    }, ACK_TIMEOUT_MS);
  });
  return { done, cancel: stop };
}

/** Baileys' content for a location, contact cards or a poll; null for other kinds. */
function otherContent(m: OutgoingMessage): AnyMessageContent | null {
  if (m.type === "location" && m.location) {
    const { latitude, longitude, name, address } = m.location;
    return { location: { degreesLatitude: latitude, degreesLongitude: longitude, ...(name ? { name } : {}), ...(address ? { address } : {}) } };
  }
  if (m.type === "contact" && m.vcards) {
    return { contacts: { displayName: m.vcards.length === 1 ? m.vcards[0]!.name : `${m.vcards.length} contacts`, contacts: m.vcards.map((c) => ({ displayName: c.name, vcard: c.vcard })) } };
  }
  if (m.type === "poll" && m.poll) return { poll: { name: m.poll.question, values: m.poll.options, selectableCount: m.poll.multiple ? 0 : 1 } };
  return null;
}

/**
 * Baileys' content for a media message: the file as a stream (Baileys encrypts it as it reads),
 * and what WhatsApp shows of it. The API measured the file and made its thumbnail, so Baileys
 * neither keeps a second copy of the original nor looks for tools this image does not have.
 */
function mediaContent(m: OutgoingMessage, info: MediaInfo, stream: Readable): AnyMessageContent {
  const file = { stream };
  const caption = m.caption ?? undefined;
  const shown = { ...(info.width ? { width: info.width } : {}), ...(info.height ? { height: info.height } : {}) };
  // Baileys computes a thumbnail when this is undefined: an empty one says there is none.
  const jpegThumbnail = m.thumbnail ?? "";
  const seconds = info.seconds !== undefined ? { seconds: info.seconds } : {};
  switch (m.type) {
    case "image":
      return { image: file, mimetype: info.mimetype, caption, jpegThumbnail, ...shown };
    case "video":
      return { video: file, mimetype: info.mimetype, caption, jpegThumbnail, ...shown, ...seconds };
    case "audio":
      return { audio: file, mimetype: info.mimetype, ...seconds };
    case "voice":
      return { audio: file, mimetype: info.mimetype, ptt: true, ...seconds };
    case "sticker":
      return { sticker: file, mimetype: info.mimetype, ...shown };
    default:
      return { document: file, mimetype: info.mimetype, fileName: info.fileName ?? "file", caption };
  }
}
