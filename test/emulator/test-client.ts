// A real, unmodified Baileys client for the emulator's tests: its own auth folder, its events
// recorded, and helpers to wait for them.
import makeWASocket, {
  Browsers,
  DisconnectReason,
  type BaileysEventMap,
  type GroupMetadata,
  type MessageUserReceiptUpdate,
  type WAMessage,
  type WAMessageUpdate,
  type WASocket,
} from "@whiskeysockets/baileys";
import pino from "pino";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openAuthStore, type AuthStore } from "../../sandbox/auth-store";
import { enforceSignatureChecks } from "../../sandbox/verify-signatures";

export interface TestClient {
  sock: WASocket;
  dir: string;
  qrs: string[];
  closes: { code: number | undefined; message: string }[];
  opened: number;
  history: BaileysEventMap["messaging-history.set"][];
  /** Every message of every `messages.upsert`, in order. */
  messages: WAMessage[];
  /** Every entry of every `messages.update`, in order. */
  updates: WAMessageUpdate[];
  /** Every entry of every `message-receipt.update` (per-member receipts of group messages), in order. */
  receipts: MessageUserReceiptUpdate[];
  /** Every entry of every `messages.reaction`, in order. */
  reactions: BaileysEventMap["messages.reaction"];
  /** Every `presence.update` (presence and chat states), in order. */
  presences: BaileysEventMap["presence.update"][];
  /** Every group of every `groups.upsert`, every entry of every `groups.update`, every `group-participants.update`. */
  groups: {
    upserts: BaileysEventMap["groups.upsert"];
    updates: BaileysEventMap["groups.update"];
    participants: BaileysEventMap["group-participants.update"][];
  };
  /** Sends a text to a user JID or a bare phone number; resolves with the message Baileys built. */
  sendText(to: string, text: string): Promise<WAMessage>;
  /** Polls `probe` (sync or async) until it answers something truthy. */
  waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, ms?: number, what?: string): Promise<T>;
  end(): void;
}

const stores = new Map<string, AuthStore>();

/** CA certificates (PEM) to trust per https origin, for media servers with a test CA. */
const trustedOrigins = new Map<string, string>();

/**
 * Makes this process's `fetch` (which Baileys uploads and downloads media with) trust the
 * emulator's media server: requests to its origin carry `tls: { ca }`; others are untouched.
 */
export function trustMediaServer(emu: { mediaUrl: string; mediaCa: string }): void {
  trustedOrigins.set(new URL(emu.mediaUrl).origin, emu.mediaCa);
  const current = globalThis.fetch as typeof fetch & { trustsMedia?: true };
  if (current.trustsMedia) return;
  const wrapped = (input: string | URL | Request, init?: BunFetchRequestInit) => {
    const href = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    let ca: string | undefined;
    try {
      ca = trustedOrigins.get(new URL(href).origin);
    } catch {}
    return ca ? current(input, { ...init, tls: { ...init?.tls, ca } }) : current(input, init);
  };
  globalThis.fetch = Object.assign(wrapped, current, { trustsMedia: true as const });
}

export async function connectClient(
  wsUrl: string,
  opts: {
    dir?: string;
    qrTimeout?: number;
    checkSignatures?: boolean;
    /** Baileys' group metadata cache: a send to a group it answers asks the server for no metadata. */
    cachedGroupMetadata?: (jid: string) => Promise<GroupMetadata | undefined>;
  } = {},
): Promise<TestClient> {
  // As the sandbox does (see sandbox/verify-signatures.ts); off only to show Baileys' own behaviour.
  if (opts.checkSignatures !== false) enforceSignatureChecks();
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "wa-client-"));
  // One store per folder, as the sandbox keeps one: a client reconnecting right after linking
  // must see the credentials its predecessor is still writing.
  let store = stores.get(dir);
  if (!store) {
    store = await openAuthStore(dir);
    stores.set(dir, store);
  }
  const { state, saveCreds } = store;
  const sock = makeWASocket({
    auth: state,
    waWebSocketUrl: new URL(wsUrl),
    logger: pino({ level: process.env.BAILEYS_LOG_LEVEL || "silent" }),
    browser: Browsers.ubuntu("Chrome"),
    markOnlineOnConnect: false,
    qrTimeout: opts.qrTimeout,
    ...(opts.cachedGroupMetadata ? { cachedGroupMetadata: opts.cachedGroupMetadata } : {}),
  });
  const client: TestClient = {
    sock,
    dir,
    qrs: [],
    closes: [],
    opened: 0,
    history: [],
    messages: [],
    updates: [],
    receipts: [],
    reactions: [],
    presences: [],
    groups: { upserts: [], updates: [], participants: [] },
    async sendText(to, text) {
      const jid = to.includes("@") ? to : `${to}@s.whatsapp.net`;
      const sent = await sock.sendMessage(jid, { text });
      if (!sent) throw new Error(`Baileys sent nothing to ${jid}`);
      return sent;
    },
    async waitFor(probe, ms = 5000, what = "event") {
      const end = Date.now() + ms;
      for (;;) {
        const v = await probe();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await Bun.sleep(10);
      }
    },
    end: () => sock.end(undefined),
  };
  sock.ev.on("creds.update", () => void saveCreds());
  sock.ev.on("messaging-history.set", (h) => client.history.push(h));
  sock.ev.on("messages.upsert", ({ messages }) => client.messages.push(...messages));
  sock.ev.on("messages.update", (updates) => client.updates.push(...updates));
  sock.ev.on("message-receipt.update", (receipts) => client.receipts.push(...receipts));
  sock.ev.on("messages.reaction", (reactions) => client.reactions.push(...reactions));
  sock.ev.on("presence.update", (update) => client.presences.push(update));
  sock.ev.on("groups.upsert", (groups) => client.groups.upserts.push(...groups));
  sock.ev.on("groups.update", (updates) => client.groups.updates.push(...updates));
  sock.ev.on("group-participants.update", (update) => client.groups.participants.push(update));
  sock.ev.on("connection.update", (u) => {
    if (u.qr) client.qrs.push(u.qr);
    if (u.connection === "open") client.opened = Date.now();
    if (u.connection === "close") {
      const err = u.lastDisconnect?.error as { output?: { statusCode?: number }; message?: string } | undefined;
      client.closes.push({ code: err?.output?.statusCode, message: err?.message ?? "" });
    }
  });
  return client;
}

/**
 * A client linked to `phone` and open, the way the sandbox does it: scan its QR, let it restart
 * (515) and reconnect with the new credentials. `track` sees each socket, for cleanup.
 */
export async function linkClient(
  wsUrl: string,
  scan: (qr: string) => Promise<{ status: number }>,
  track: (c: TestClient) => void = () => {},
  /** Options of the linked (second) socket, such as a group metadata cache. */
  opts: Omit<Parameters<typeof connectClient>[1] & {}, "dir"> = {},
): Promise<{ first: TestClient; second: TestClient }> {
  const first = await connectClient(wsUrl);
  track(first);
  const qr = await first.waitFor(() => first.qrs[0], 5000, "a QR");
  const res = await scan(qr);
  if (res.status !== 200) throw new Error(`scan answered ${res.status}`);
  await first.waitFor(() => first.closes.find((c) => c.code === DisconnectReason.restartRequired), 5000, "restart required");
  const second = await connectClient(wsUrl, { ...opts, dir: first.dir });
  track(second);
  await second.waitFor(() => second.opened, 5000, "connection open");
  return { first, second };
}
