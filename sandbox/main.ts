// The sandbox: one WhatsApp session in its own container. It reads only its environment and
// /data (its volume), talks to WhatsApp through Baileys and to the API through the channel.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { apiFiles } from "./media-files";
import { installMediaFetch } from "./media-fetch";
import { egressAgent, installEgressFetch } from "./egress";
import { ChannelClient } from "./channel-client";
import { sandboxLog } from "./log";
import { WhatsAppSession } from "./whatsapp";
import { AuthMirror, mirrorExisting, restoreAuthState } from "./auth-mirror";

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(JSON.stringify({ level: "error", msg: `${name} is not set` }) + "\n");
    process.exit(2);
  }
  return value;
}

const sessionId = required("SESSION_ID");
const dataDir = process.env.DATA_DIR ?? "/data";
const log = sandboxLog(sessionId, process.env.LOG_LEVEL === "warn" || process.env.LOG_LEVEL === "error");

let whatsapp: WhatsAppSession;
/** When the sandbox last had something to do (a request, a report). */
let lastWork = 0;
const channel = new ChannelClient({
  url: required("CHANNEL_URL"),
  token: required("CHANNEL_TOKEN"),
  tokenFile: join(dataDir, "channel-token"),
  log,
  onRequest: async (req) => {
    lastWork = Date.now();
    const result = await whatsapp.handle(req);
    // A send's answer says it was sent: the keys it used are stored at the API first.
    if (mirror?.flush()) await channel.settled(5000);
    return result;
  },
});

async function finish(reason: string, code = 0): Promise<never> {
  log.info("sandbox finishing", { reason });
  whatsapp.stop();
  mirror?.flush();
  // Give the API the last reports before the container goes away.
  await channel.flush(5000);
  channel.close();
  process.exit(code);
}

// Baileys encrypts an outgoing file into temporary files: on the volume, not the container's small /tmp.
process.env.TMPDIR = join(dataDir, "tmp");
mkdirSync(process.env.TMPDIR, { recursive: true });
// Every connection out goes through the egress gateway's socket when the API mounted one; tests
// that reach the emulator's own sockets directly leave it out.
const egressSocket = process.env.WA_EGRESS_SOCKET || undefined;
// Baileys connects to wss://web.whatsapp.com/ws/chat unless told otherwise.
const wsUrl = process.env.WA_WS_URL || "wss://web.whatsapp.com/ws/chat";
if (egressSocket) installEgressFetch(egressSocket, { ca: process.env.WA_MEDIA_CA || undefined, mediaHost: process.env.WA_MEDIA_HOST || undefined });
else installMediaFetch(process.env.WA_MEDIA_SOCKET, process.env.WA_MEDIA_CA);

const files = apiFiles(required("CHANNEL_URL"), () => channel.currentToken);
const authDir = join(dataDir, "auth");
// The API keeps a copy of the auth state (WA_AUTH_MIRROR): what a session moved to another node starts from.
const mirror =
  process.env.WA_AUTH_MIRROR === "1"
    ? new AuthMirror(
        (r) => channel.report(r),
        (name, chars) => log.warn("auth-state entry not mirrored: the channel does not take it", { name: name.slice(0, 64), chars }),
      )
    : null;

whatsapp = new WhatsAppSession({
  authDir,
  authChanged: mirror ? (entries) => mirror.add(entries) : undefined,
  files,
  mediaMaxBytes: Number(process.env.WA_MEDIA_MAX_BYTES) || 64 * 1024 * 1024,
  sentLedgerFile: join(dataDir, "sent-messages"),
  mediaKeysFile: join(dataDir, "media-keys"),
  pollSecretsFile: join(dataDir, "poll-secrets"),
  mediaAutoDownload: process.env.WA_MEDIA_AUTO_DOWNLOAD !== "false",
  wsUrl: process.env.WA_WS_URL || undefined,
  ...(egressSocket ? { agent: egressAgent(egressSocket, wsUrl.startsWith("wss:")) } : {}),
  trustRoot: process.env.WA_TRUST_ROOT || undefined,
  qrTimeoutMs: Number(process.env.WA_QR_TIMEOUT_MS) || undefined,
  log,
  report: (r) => {
    lastWork = Date.now();
    // The keys a message used go before the message.
    mirror?.flush();
    channel.report(r);
    if (r.type === "ready") setTimeout(() => Bun.shrink(), 5_000).unref();
  },
  onFinished: (reason) => void finish(reason),
});

process.on("SIGTERM", () => void finish("SIGTERM"));
process.on("SIGINT", () => void finish("SIGINT"));

// An idle session allocates little, but the heap keeps what startup, linking and history sync
// used. 5 s after each connection opens, and every 30 s while the session is quiet,
// JavaScriptCore drops all compiled code and collects fully: code that runs again is relinked
// from the executable's bytecode, whose pages are shared, and what ran once at startup stops
// holding memory. A session at work keeps its code: relinking it mid-conversation cost CPU and
// the message that came next.
const QUIET_MS = 10_000;
setInterval(() => {
  if (Date.now() - lastWork >= QUIET_MS) Bun.shrink();
}, 30_000).unref();

// Several nodes: an API out of reach this long may hand the session to another node, whose copy
// must not meet this one at WhatsApp (WA_CHANNEL_FENCE_MS is half NODE_DEAD_SECONDS).
const fenceMs = Number(process.env.WA_CHANNEL_FENCE_MS) || 0;
if (fenceMs > 0) {
  let downSince = 0;
  setInterval(() => {
    if (channel.connected) {
      downSince = 0;
      whatsapp.resume();
    } else if (Date.now() - (downSince ||= Date.now()) >= fenceMs) {
      whatsapp.pause();
    }
  }, 1000).unref();
}

channel.start();
if (mirror) {
  await restoreAuthState(authDir, files, log);
  mirrorExisting(authDir, mirror, () => channel.settled(60_000), log);
}
log.info("sandbox starting", { wsUrl: process.env.WA_WS_URL ?? "default", egress: egressSocket ? "gateway" : "direct" });
await whatsapp.start();
