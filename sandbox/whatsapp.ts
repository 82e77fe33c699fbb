// One Baileys client for the session: connects, reconnects with backoff, and turns Baileys'
// events into channel reports. What it knows of WhatsApp it learns only from Baileys.
import makeWASocket, {
  Browsers,
  DisconnectReason,
  jidDecode,
  makeCacheableSignalKeyStore,
  toNumber,
  WA_CERT_DETAILS,
  type Chat,
  type Contact,
  type WAMessage,
  type WASocket,
} from "@whiskeysockets/baileys";
import { MAX_SYNC_BATCH, type ChatReport, type ContactReport, type NumberCheck, type Report, type SandboxRequest } from "../src/channel/frames";
import { clearAuthStore, openAuthStore, type AuthStore } from "./auth-store";
import { ownStatus, sendOnce, SentLedger, toIncoming, toStatusReports } from "./messages";
import { enforceSignatureChecks } from "./verify-signatures";
import { SignalKeyCache } from "./key-cache";
import baileysLogger from "./baileys-log";
import type { SandboxLog } from "./log";

export interface WhatsAppOptions {
  authDir: string;
  /** Where the ids of sent messages are kept (on the volume, beside the auth state). */
  sentLedgerFile: string;
  /** WhatsApp's WebSocket URL (a local emulator in tests); Baileys' default when unset. */
  wsUrl?: string;
  /** Hex public key of the certificate root to trust instead of WhatsApp's own. */
  trustRoot?: string;
  /** How long each QR code lives; Baileys' default (60 s, then 20 s) when unset. */
  qrTimeoutMs?: number;
  log: SandboxLog;
  report: (r: Report) => void;
  /** Called when the session ends for good (logged out, QR never scanned). */
  onFinished: (reason: string) => void;
}

const MAX_BACKOFF_MS = 30_000;

export function userPhone(jid: string | undefined | null): string | null {
  if (!jid) return null;
  const decoded = jidDecode(jid);
  return decoded?.server === "s.whatsapp.net" ? decoded.user : null;
}

/** Contacts are people (phone-number or LID accounts); groups are chats, not contacts. */
export function isPerson(id: string | null | undefined): boolean {
  return !!id && (id.endsWith("@s.whatsapp.net") || id.endsWith("@lid"));
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

const notConnected = () => Object.assign(new Error("WhatsApp is not connected now"), { code: "NOT_CONNECTED" });

export class WhatsAppSession {
  private sock: WASocket | null = null;
  /** The socket is logged in: until then a send or a receipt waits for the next one (NOT_CONNECTED). */
  private open = false;
  /** Opened once: a reconnect (say, right after linking) must see credentials still being written. */
  private store: AuthStore | null = null;
  private backoffMs = 1000;
  private stopped = false;
  private readonly baileysLog = baileysLogger({ level: process.env.BAILEYS_LOG_LEVEL ?? "silent" });
  private readonly ledger: SentLedger;
  /** One for the session's life: a reconnect finds the keys the last socket used. */
  private readonly keyCache = new SignalKeyCache();

  constructor(private readonly opts: WhatsAppOptions) {
    this.ledger = new SentLedger(opts.sentLedgerFile);
    enforceSignatureChecks();
    if (opts.trustRoot) WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(opts.trustRoot, "hex");
  }

  async start(): Promise<void> {
    this.store ??= await openAuthStore(this.opts.authDir);
    const { state, saveCreds } = this.store;
    if (this.stopped) return;
    const sock = makeWASocket({
      auth: { creds: state.creds, keys: makeCacheableSignalKeyStore(state.keys, this.baileysLog, this.keyCache) },
      logger: this.baileysLog,
      browser: Browsers.ubuntu("Chrome"),
      markOnlineOnConnect: false,
      syncFullHistory: false,
      // Our own sends are not echoed back as upserts: the API stored each one before it asked,
      // and the echo cost a report, the session lock and database round trips per message.
      // Messages the account's phone sends still arrive as upserts from the server.
      emitOwnEvents: false,
      qrTimeout: this.opts.qrTimeoutMs,
      ...(this.opts.wsUrl ? { waWebSocketUrl: new URL(this.opts.wsUrl) } : {}),
    });
    this.sock = sock;
    this.open = false;
    sock.ev.on("creds.update", () => void saveCreds());
    sock.ev.on("connection.update", (u) => {
      if (this.sock !== sock) return;
      if (u.qr) this.opts.report({ type: "qr", qr: u.qr });
      if (u.connection === "connecting") this.opts.report({ type: "connecting" });
      if (u.connection === "open") {
        this.open = true;
        this.backoffMs = 1000;
        const phoneNumber = userPhone(sock.user?.id) ?? sock.user?.id ?? "";
        this.opts.report({ type: "ready", phoneNumber, pushName: sock.user?.name ?? null });
      }
      if (u.connection === "close") void this.onClose(u.lastDisconnect?.error);
    });
    sock.ev.on("messaging-history.set", ({ chats, contacts }) => {
      this.batch("contacts", contacts.filter((c) => isPerson(c.id)).map(toContact));
      this.batch("chats", chats.filter((c) => c.id).map((c) => toChat(c)));
    });
    sock.ev.on("contacts.upsert", (list) => this.batch("contacts", list.filter((c) => isPerson(c.id)).map(toContact)));
    sock.ev.on("contacts.update", (list) => this.batch("contacts", list.filter((c) => isPerson(c.id)).map((c) => toContact(c as Contact))));
    sock.ev.on("chats.upsert", (list) => this.batch("chats", list.filter((c) => c.id).map((c) => toChat(c))));
    sock.ev.on("chats.update", (list) =>
      this.batch(
        "chats",
        list
          .filter((c) => c.id)
          .map((c) => chatUpdate(c as ChatLike))
          .filter((c): c is ChatReport => c !== null),
      ),
    );
    sock.ev.on("messages.upsert", ({ messages }) => {
      for (const m of messages) {
        const message = toIncoming(m);
        if (message) this.opts.report({ type: "message", message });
        const status = ownStatus(m);
        if (status) this.opts.report(status);
      }
    });
    sock.ev.on("messages.update", (updates) => {
      for (const r of toStatusReports(updates)) this.opts.report(r);
    });
  }

  async handle(req: SandboxRequest): Promise<unknown> {
    const sock = this.sock;
    if (!sock) throw notConnected();
    switch (req.type) {
      case "check-number": {
        const found = (await sock.onWhatsApp(...req.phones)) ?? [];
        const byPhone = new Map(found.map((f) => [userPhone(f.jid), f]));
        const results: NumberCheck[] = req.phones.map((phone) => {
          const hit = byPhone.get(phone);
          return hit?.exists ? { phone, exists: true, jid: hit.jid } : { phone, exists: false, jid: null };
        });
        return { results };
      }
      case "pairing-code":
        return { code: await sock.requestPairingCode(req.phoneNumber) };
      case "logout":
        await sock.logout();
        return {};
      case "send":
        if (!this.open) throw notConnected();
        return sendOnce(sock, this.ledger, req.message);
      case "read":
        if (!this.open) throw notConnected();
        await sock.readMessages(req.ids.map((id) => ({ remoteJid: req.chatId, id, fromMe: false })));
        return {};
    }
  }

  stop(): void {
    this.stopped = true;
    this.keyCache.close();
    this.sock?.end(undefined);
    this.sock = null;
  }

  /** A history sync of a large account holds tens of thousands of rows: one report per MAX_SYNC_BATCH. */
  private batch(type: "contacts" | "chats", items: (ContactReport | ChatReport)[]): void {
    for (let i = 0; i < items.length; i += MAX_SYNC_BATCH) {
      const slice = items.slice(i, i + MAX_SYNC_BATCH);
      this.opts.report(type === "contacts" ? { type, contacts: slice as ContactReport[] } : { type, chats: slice as ChatReport[] });
    }
  }

  private async onClose(error: Error | undefined): Promise<void> {
    this.sock = null;
    this.open = false;
    if (this.stopped) return;
    const code = (error as { output?: { statusCode?: number } } | undefined)?.output?.statusCode;
    const reason = `${error?.message ?? "connection closed"}${code ? ` (${code})` : ""}`;
    if (code === DisconnectReason.loggedOut) {
      await this.store?.flush();
      this.store = null;
      this.keyCache.flushAll();
      await clearAuthStore(this.opts.authDir);
      this.opts.report({ type: "logged_out", reason });
      this.opts.onFinished("logged out");
      return;
    }
    if (code === DisconnectReason.restartRequired) {
      // WhatsApp asks for a fresh stream right after linking; not a disconnection to report.
      return this.restart(0);
    }
    if (code === DisconnectReason.timedOut && /QR refs attempts ended/i.test(error?.message ?? "")) {
      this.opts.report({ type: "failed", reason: "QR code was not scanned in time; start the session for a new one" });
      this.opts.onFinished("QR not scanned");
      return;
    }
    if (code === DisconnectReason.forbidden || code === DisconnectReason.multideviceMismatch || code === DisconnectReason.badSession) {
      this.opts.report({ type: "failed", reason });
      this.opts.onFinished(reason);
      return;
    }
    this.opts.report({ type: "disconnected", reason });
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    return this.restart(wait);
  }

  private async restart(delayMs: number): Promise<void> {
    if (delayMs > 0) await Bun.sleep(delayMs);
    if (this.stopped) return;
    await this.start().catch((err) => {
      this.opts.report({ type: "failed", reason: `could not restart the WhatsApp client: ${String(err)}` });
      this.opts.onFinished("restart failed");
    });
  }
}
