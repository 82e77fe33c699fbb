// A real, unmodified Baileys client for the emulator's tests: its own auth folder, its events
// recorded, and helpers to wait for them.
import makeWASocket, { Browsers, type BaileysEventMap, type WASocket } from "@whiskeysockets/baileys";
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
  waitFor<T>(probe: () => T | undefined | false, ms?: number, what?: string): Promise<T>;
  end(): void;
}

const stores = new Map<string, AuthStore>();

export async function connectClient(
  wsUrl: string,
  opts: { dir?: string; qrTimeout?: number; checkSignatures?: boolean } = {},
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
    logger: pino({ level: "silent" }),
    browser: Browsers.ubuntu("Chrome"),
    markOnlineOnConnect: false,
    qrTimeout: opts.qrTimeout,
  });
  const client: TestClient = {
    sock,
    dir,
    qrs: [],
    closes: [],
    opened: 0,
    history: [],
    async waitFor(probe, ms = 5000, what = "event") {
      const end = Date.now() + ms;
      for (;;) {
        const v = probe();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await Bun.sleep(10);
      }
    },
    end: () => sock.end(undefined),
  };
  sock.ev.on("creds.update", () => void saveCreds());
  sock.ev.on("messaging-history.set", (h) => client.history.push(h));
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
