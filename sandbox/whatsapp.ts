// One Baileys client for the session: connects, reconnects with backoff, and reports the
// connection's state; it wires Baileys' events to what comes in (messages-recv.ts) and the API's
// requests to what goes out (messages-send.ts). What it knows of WhatsApp it learns only from Baileys.
import makeWASocket, { Browsers, DisconnectReason, makeCacheableSignalKeyStore, WA_CERT_DETAILS, type WAMessage, type WASocket } from "@whiskeysockets/baileys";
import type { MediaInfo, NumberCheck, Report, SandboxRequest } from "../src/channel/frames";
import { clearAuthStore, openAuthStore, type AuthChanges, type AuthStore } from "./auth-store";
import { userPhone } from "./jid";
import { deliverIncomingFile, withDeadline, type ApiFiles, type DownloadContext } from "./media-files";
import { MediaKeys } from "./media-keys";
import { Conversation } from "./conversation";
import { GroupDirectory } from "./groups";
import { PollSecrets } from "./poll-secrets";
import { mediaInfoOf, reportIncoming } from "./messages-recv";
import { sendOnce, sendReadReceipts, SentLedger } from "./messages-send";
import { enforceSignatureChecks } from "./verify-signatures";
import { SignalKeyCache } from "./key-cache";
import baileysLogger from "./baileys-log";
import type { SandboxLog } from "./log";
import { EgressRefused } from "./egress";
import type { Agent } from "node:http";

export interface WhatsAppOptions {
  authDir: string;
  /** Told of every auth-state change (the API's mirror); none when the mirror is off. */
  authChanged?: AuthChanges;
  /** Where the ids of sent messages are kept (on the volume, beside the auth state). */
  sentLedgerFile: string;
  /** WhatsApp's WebSocket URL (a local emulator in tests); Baileys' default when unset. */
  wsUrl?: string;
  /** How the WhatsApp socket connects (the egress gateway's tunnel); the container's own network when unset. */
  agent?: Agent;
  /** Hex public key of the certificate root to trust instead of WhatsApp's own. */
  trustRoot?: string;
  /** How long each QR code lives; Baileys' default (60 s, then 20 s) when unset. */
  qrTimeoutMs?: number;
  log: SandboxLog;
  /** The API's end of media files (the channel's media paths). */
  files: ApiFiles;
  /** Incoming files larger than this are not downloaded (the API marks them failed). */
  mediaMaxBytes: number;
  /** MEDIA_AUTO_DOWNLOAD: false leaves every file to a `download` request. */
  mediaAutoDownload: boolean;
  /** Where the keys of incoming files are kept for a later download (on the volume). */
  mediaKeysFile: string;
  /** Where the secrets of polls are kept, to decrypt their votes (on the volume). */
  pollSecretsFile: string;
  report: (r: Report) => void;
  /** Called when the session ends for good (logged out, QR never scanned). */
  onFinished: (reason: string) => void;
}

const INITIAL_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;

const notConnected = () => Object.assign(new Error("WhatsApp is not connected now"), { code: "NOT_CONNECTED" });

export class WhatsAppSession {
  private sock: WASocket | null = null;
  /** The socket is logged in: until then a send or a receipt waits for the next one (NOT_CONNECTED). */
  private open = false;
  /** Opened once: a reconnect (say, right after linking) must see credentials still being written. */
  private store: AuthStore | null = null;
  private backoffMs = 1000;
  /** A disconnection was reported and the socket has not opened since. */
  /** A disconnection was reported and the socket has not opened since (the backoff grew). */
  private get retrying(): boolean {
    return this.backoffMs > INITIAL_BACKOFF_MS;
  }
  private stopped = false;
  /** Off WhatsApp while the API is out of reach (see pause). */
  private paused = false;
  private readonly baileysLog = baileysLogger({ level: process.env.BAILEYS_LOG_LEVEL ?? "silent" });
  private readonly ledger: SentLedger;
  private readonly mediaKeys: MediaKeys;
  /** One for the session's life: a reconnect finds the keys the last socket used. */
  private readonly keyCache = new SignalKeyCache();
  /** The account's groups, kept across reconnects and synced at each. */
  private readonly groups: GroupDirectory;
  private readonly conversation: Conversation;

  constructor(private readonly opts: WhatsAppOptions) {
    this.groups = new GroupDirectory((r) => opts.report(r), opts.log);
    this.conversation = new Conversation((r) => opts.report(r), new PollSecrets(opts.pollSecretsFile), (jid) => this.groups.nameOf(jid), opts.log);
    this.ledger = new SentLedger(opts.sentLedgerFile);
    this.mediaKeys = new MediaKeys(opts.mediaKeysFile);
    enforceSignatureChecks();
    if (opts.trustRoot) WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(opts.trustRoot, "hex");
  }

  async start(): Promise<void> {
    this.store ??= await openAuthStore(this.opts.authDir, this.opts.authChanged);
    const { state, saveCreds } = this.store;
    if (this.stopped || this.paused) return;
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
      // Sends to a group read its members from here, kept current by notifications: no query per message.
      cachedGroupMetadata: this.groups.cached,
      ...(this.opts.wsUrl ? { waWebSocketUrl: new URL(this.opts.wsUrl) } : {}),
      // Baileys types it as an https Agent; ws takes either (a plain ws: URL in tests).
      ...(this.opts.agent ? { agent: this.opts.agent as import("node:https").Agent } : {}),
    });
    this.sock = sock;
    this.open = false;
    sock.ev.on("creds.update", () => void saveCreds());
    this.groups.attach(sock);
    this.conversation.attach(sock);
    sock.ev.on("connection.update", (u) => {
      if (this.sock !== sock) return;
      if (u.qr) this.opts.report({ type: "qr", qr: u.qr });
      // While retrying after a disconnection the session stays `disconnected` (each failed attempt
      // updates its reason): a `connecting` per attempt would flap the state and its webhooks.
      if (u.connection === "connecting" && !this.retrying) this.opts.report({ type: "connecting" });
      if (u.connection === "open") {
        this.open = true;
        this.backoffMs = INITIAL_BACKOFF_MS;
        const phoneNumber = userPhone(sock.user?.id) ?? sock.user?.id ?? "";
        this.opts.report({ type: "ready", phoneNumber, pushName: sock.user?.name ?? null });
        void this.groups.sync(sock);
      }
      if (u.connection === "close") void this.onClose(u.lastDisconnect?.error);
    });
    reportIncoming(
      sock.ev,
      (r) => this.opts.report(r),
      (jid) => this.groups.nameOf(jid),
      (m, info) => {
        this.mediaKeys.add(m);
        if (this.opts.mediaAutoDownload && info.size <= this.opts.mediaMaxBytes) void this.deliver(sock, m, info);
      },
    );
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
        return sendOnce(sock, this.ledger, req.message, this.opts.files, (sent) => this.conversation.pollSent(sock, sent)).catch((err: Error & { code?: string }) => {
          this.opts.log.warn("message not sent", { messageId: req.message.id, code: err.code, error: err.message });
          throw err;
        });
      case "read":
        if (!this.open) throw notConnected();
        await sendReadReceipts(sock, req.chatId, req.ids);
        return {};
      case "group-create":
      case "group-update":
      case "group-participants":
      case "group-invite":
      case "group-join":
      case "group-leave":
        if (!this.open) throw notConnected();
        return this.groups.handle(req);
      case "react":
      case "edit":
      case "revoke":
      case "presence":
      case "presence-subscribe":
        if (!this.open) throw notConnected();
        return this.conversation.handle(sock, req);
      case "download": {
        if (!this.open) throw notConnected();
        const m = this.mediaKeys.get(req.id);
        const info = m && mediaInfoOf(m);
        if (!m || !info) throw Object.assign(new Error("this session has no key for the message's file"), { code: "MEDIA_UNKNOWN" });
        return this.deliver(sock, m, info);
      }
    }
  }

  /** Brings an incoming file to the API; expired at WhatsApp, the sender's phone is asked to upload it again. */
  private deliver(sock: WASocket, m: WAMessage, info: MediaInfo) {
    const ctx: DownloadContext = { reuploadRequest: withDeadline((msg) => sock.updateMediaMessage(msg)), logger: this.baileysLog };
    return deliverIncomingFile(m, info, this.opts.files, this.opts.report, this.opts.log, ctx);
  }

  /**
   * The API has been out of reach for half the time after which other nodes take the session
   * over: this copy leaves WhatsApp, so two copies of the account never connect at once. It comes
   * back when its channel does (a copy whose launch was handed over is never admitted again).
   */
  pause(): void {
    if (this.paused || this.stopped) return;
    this.paused = true;
    this.opts.log.warn("API out of reach: off WhatsApp until it is back");
    this.sock?.end(undefined);
    this.sock = null;
    this.open = false;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.opts.log.info("API back: connecting to WhatsApp again");
    if (!this.sock && !this.stopped) void this.restart(0);
  }

  stop(): void {
    this.stopped = true;
    this.keyCache.close();
    this.sock?.end(undefined);
    this.sock = null;
  }

  private async onClose(error: Error | undefined): Promise<void> {
    this.sock = null;
    this.open = false;
    if (this.stopped || this.paused) return;
    const code = (error as { output?: { statusCode?: number } } | undefined)?.output?.statusCode;
    // The egress gateway's reason as it gave it (`proxy authentication failed`, …).
    const egress = (error as { data?: unknown } | undefined)?.data;
    const reason = egress instanceof EgressRefused ? egress.message : `${error?.message ?? "connection closed"}${code ? ` (${code})` : ""}`;
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
    // A resume may have connected meanwhile: one socket at a time.
    if (this.stopped || this.paused || this.sock) return;
    await this.start().catch((err) => {
      this.opts.report({ type: "failed", reason: `could not restart the WhatsApp client: ${String(err)}` });
      this.opts.onFinished("restart failed");
    });
  }
}
