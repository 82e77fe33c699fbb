// Messages between Baileys and the channel: what the account receives (or its phone sends)
// becomes a `message` report, WhatsApp's receipts become `message_status` reports, and the
// API's `send` requests go out under the API's own id, at most once, confirmed by the server's ack.
import { appendFileSync, readFileSync } from "node:fs";
import { proto, toNumber, type WAMessage, type WAMessageUpdate, type WASocket } from "@whiskeysockets/baileys";
import type { IncomingMessage, OutgoingMessage, Report } from "../src/channel/frames";

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

const statusOf: Partial<Record<number, "sent" | "delivered" | "read" | "failed">> = {
  [proto.WebMessageInfo.Status.ERROR]: "failed",
  [proto.WebMessageInfo.Status.SERVER_ACK]: "sent",
  [proto.WebMessageInfo.Status.DELIVERY_ACK]: "delivered",
  [proto.WebMessageInfo.Status.READ]: "read",
  [proto.WebMessageInfo.Status.PLAYED]: "read",
};

/** A text message as the channel carries it; null for kinds not carried yet (media, reactions…). */
export function toIncoming(m: WAMessage): IncomingMessage | null {
  const id = m.key.id;
  const chatId = m.key.remoteJid;
  const content = m.message;
  if (!id || !chatId || !content) return null;
  const text = content.conversation ?? content.extendedTextMessage?.text;
  if (typeof text !== "string") return null;
  return {
    id,
    chatId,
    fromMe: !!m.key.fromMe,
    type: "text",
    text,
    timestamp: m.messageTimestamp ? toNumber(m.messageTimestamp) : Math.floor(Date.now() / 1000),
    replyTo: content.extendedTextMessage?.contextInfo?.stanzaId ?? null,
  };
}

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

function coded(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Sends in progress by id: the API asks again for a message whose first answer it stopped waiting for. */
const sending = new Map<string, Promise<{ timestamp: number }>>();

/** Sends one message under its id, once; resolves with the server's timestamp when it acked. */
export function sendOnce(sock: WASocket, ledger: SentLedger, m: OutgoingMessage): Promise<{ timestamp: number }> {
  let send = sending.get(m.id);
  if (!send) {
    send = sendNow(sock, ledger, m).finally(() => sending.delete(m.id));
    sending.set(m.id, send);
  }
  return send;
}

async function sendNow(sock: WASocket, ledger: SentLedger, m: OutgoingMessage): Promise<{ timestamp: number }> {
  const already = ledger.get(m.id);
  if (already !== undefined) return { timestamp: already };
  if (m.to.endsWith("@s.whatsapp.net") && !(await onWhatsApp(sock, m.to))) throw coded("NOT_ON_WHATSAPP", "the number is not on WhatsApp");
  const acked = serverAck(sock, m.id);
  // Marked before it leaves: a crash after this line may lose the message, never send it twice.
  ledger.add(m.id, Math.floor(Date.now() / 1000));
  const quoted = m.replyTo ? { key: { remoteJid: m.to, id: m.replyTo, fromMe: m.quoted?.fromMe ?? false }, message: { conversation: m.quoted?.text ?? "" } } : undefined;
  try {
    await sock.sendMessage(m.to, { text: m.text }, { messageId: m.id, ...(quoted ? { quoted } : {}) });
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
