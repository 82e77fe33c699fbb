// Configuration comes from the environment only, validated once at start so a bad value
// stops the API with a message that names the variable instead of failing later.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { AllowList, DEFAULT_EGRESS_ALLOW } from "./egress/allow-list";
import { modulePath } from "./platform/module-path";

export type LogLevel = "debug" | "info" | "warn" | "error";

export class ConfigError extends Error {}

/** A node id: also part of container labels and log lines. */
export const NODE_ID = /^[a-zA-Z0-9_.-]{1,64}$/;

/** The configuration, or the process ends with a message naming the variable (the API's and the gateway's entry points). */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`Configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** A positive number, decimals allowed (hours and days that tests shorten to seconds). */
function num(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+(\.\d+)?$/.test(raw)) throw new ConfigError(`${name} must be a number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === "") return fallback;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL, got "${raw}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must use ${protocols.join(" or ")}, got "${parsed.protocol}"`);
  }
  return raw;
}

/** Parses sizes such as 256m, 512MiB, 1g or a plain byte count. */
export function parseBytes(name: string, raw: string): number {
  const m = /^(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(raw.trim());
  if (!m) throw new ConfigError(`${name} must be a size such as 256m or 1g, got "${raw}"`);
  const unit = (m[2] ?? "b").toLowerCase()[0];
  const mult = unit === "k" ? 1024 : unit === "m" ? 1024 ** 2 : unit === "g" ? 1024 ** 3 : 1;
  return Number(m[1]) * mult;
}

export function defaultPodmanSocket(env: Env = process.env): string {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return "/run/podman/podman.sock";
  const runtimeDir = env.XDG_RUNTIME_DIR || `/run/user/${uid}`;
  return join(runtimeDir, "podman", "podman.sock");
}

/** The settings, each named and checked once here; the type follows from what this returns. */
export type Config = ReturnType<typeof loadConfig>;

export function loadConfig(env: Env = process.env) {
  const logLevel = (env.LOG_LEVEL ?? "info").toLowerCase();
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be debug, info, warn or error, got "${env.LOG_LEVEL}"`);
  }
  const adminApiKey = env.ADMIN_API_KEY || undefined;
  if (adminApiKey !== undefined && !/^wamk_[0-9a-f]{48}$/.test(adminApiKey)) {
    throw new ConfigError("ADMIN_API_KEY must be wamk_ followed by 48 lowercase hex digits");
  }
  const channelSecret = env.CHANNEL_SECRET || undefined;
  if (channelSecret !== undefined && channelSecret.length < 32) {
    throw new ConfigError("CHANNEL_SECRET must be at least 32 characters");
  }
  const webhookSecret = env.WEBHOOK_SECRET || undefined;
  if (webhookSecret !== undefined && webhookSecret.length < 32) {
    throw new ConfigError("WEBHOOK_SECRET must be at least 32 characters");
  }
  const trustRoot = env.WA_TRUST_ROOT || undefined;
  if (trustRoot !== undefined && !/^[0-9a-fA-F]{64}$/.test(trustRoot)) {
    throw new ConfigError("WA_TRUST_ROOT must be a 32-byte public key in hex (64 digits)");
  }
  const instanceId = env.INSTANCE_ID || undefined;
  if (instanceId !== undefined && !/^[a-zA-Z0-9_.-]{1,64}$/.test(instanceId)) {
    throw new ConfigError("INSTANCE_ID must be 1 to 64 letters, digits, '.', '_' or '-'");
  }
  const metricsToken = env.METRICS_TOKEN || undefined;
  if (metricsToken !== undefined && (metricsToken.length < 16 || /\s/.test(metricsToken))) {
    throw new ConfigError("METRICS_TOKEN must be at least 16 characters, without spaces");
  }
  let egressAllow: AllowList;
  try {
    egressAllow = AllowList.parse(env.EGRESS_ALLOW || DEFAULT_EGRESS_ALLOW);
  } catch (err) {
    throw new ConfigError(`EGRESS_ALLOW must be a comma-separated list of host:port: ${(err as Error).message}`);
  }
  const nodeId = env.NODE_ID || undefined;
  if (nodeId !== undefined && !NODE_ID.test(nodeId)) {
    throw new ConfigError("NODE_ID must be 1 to 64 letters, digits, '.', '_' or '-'");
  }
  const nodeSecret = env.NODE_SECRET || undefined;
  if (nodeSecret !== undefined && nodeSecret.length < 32) {
    throw new ConfigError("NODE_SECRET must be at least 32 characters");
  }
  const authStateKey = env.AUTH_STATE_KEY || undefined;
  if (authStateKey !== undefined && authStateKey.length < 32) {
    throw new ConfigError("AUTH_STATE_KEY must be at least 32 characters");
  }
  const port = int(env, "PORT", 3000, 0, 65535);
  const host = env.HOST || "0.0.0.0";
  return {
    port,
    host,
    databaseUrl: url(env, "DATABASE_URL", ["postgres:", "postgresql:"]),
    dataDir: resolve(env.DATA_DIR || "./data"),
    adminApiKey,
    logLevel: logLevel as LogLevel,
    openSessionCreate: bool(env, "OPEN_SESSION_CREATE", false),
    createRateLimitPerMinute: int(env, "CREATE_RATE_LIMIT_PER_MINUTE", 10, 1, 100000),
    /** Behind a reverse proxy: the client's address is the last X-Forwarded-For entry. */
    trustProxy: bool(env, "TRUST_PROXY", false),
    maxSessions: int(env, "MAX_SESSIONS", 100, 1, 100000),
    /** This node's id among the API processes sharing the database; unset: one made at first start and kept in DATA_DIR/node-id. */
    nodeId,
    /** Where the other nodes reach this one's REST API; unset: http://127.0.0.1:PORT (one host). */
    nodeUrl: url(env, "NODE_URL", ["http:", "https:"])?.replace(/\/+$/, ""),
    /** Sessions this node may run; MAX_SESSIONS when unset. */
    nodeCapacity: env.NODE_CAPACITY ? int(env, "NODE_CAPACITY", 100, 0, 100000) : undefined,
    /** Authenticates node-to-node calls; the same on every node (calls for another node's session answer 503 without it). */
    nodeSecret,
    /** A node not seen for this long is dead, and the others adopt its sessions. */
    nodeDeadSeconds: int(env, "NODE_DEAD_SECONDS", 60, 5, 3600),
    /** Key of the sessions' mirrored auth state; the same on every node. Unset: one kept in DATA_DIR/auth-state.key (one node). */
    authStateKey,
    /**
     * Whether sandboxes mirror their auth state to the database (what lets a session move to another
     * node without a new QR): on with DATABASE_URL, off on PGlite (one node alone; about 5 ms of CPU a message).
     */
    authStateMirror: bool(env, "AUTH_STATE_MIRROR", !!env.DATABASE_URL),
    /** New sessions' containers made at once; more wait their turn (create still answers at once). */
    createConcurrency: int(env, "SANDBOX_CREATE_CONCURRENCY", 4, 1, 64),
    /** Public base URL of this API as sandboxes reach it over TCP (the channel is then served on PORT too). */
    channelUrl: url(env, "CHANNEL_URL", ["ws:", "wss:", "http:", "https:"]),
    /** Unix socket the channel is served on, bind-mounted into containers without network. */
    channelSocket: env.CHANNEL_SOCKET || undefined,
    channelSecret,
    /** Seconds after start within which a running sandbox must reach the channel before it is restarted. */
    channelGraceSeconds: int(env, "CHANNEL_GRACE_SECONDS", 60, 1, 3600),
    podmanSocket: env.PODMAN_SOCKET || defaultPodmanSocket(env),
    sandboxImage: env.SANDBOX_IMAGE || `localhost/wa-sandbox:${packageVersion()}`,
    sandboxMemory: env.SANDBOX_MEMORY ? parseBytes("SANDBOX_MEMORY", env.SANDBOX_MEMORY) : 256 * 1024 ** 2,
    /** The containers' network: none by default (every connection goes through the egress gateway); an empty value leaves it to Podman. */
    sandboxNetwork: env.SANDBOX_NETWORK === undefined ? "none" : env.SANDBOX_NETWORK || undefined,
    /** The egress gateway's folder: its control socket and each session's socket (`bun run egress` makes them). */
    egressDir: resolve(env.EGRESS_DIR || join(resolve(env.DATA_DIR || "./data"), "egress")),
    /** Where sandboxes may connect through the gateway. */
    egressAllow,
    sandboxPids: int(env, "SANDBOX_PIDS", 256, 16, 100000),
    sandboxCpuShares: int(env, "SANDBOX_CPU_SHARES", 512, 2, 262144),
    /** Identifies this API instance in container labels, so two APIs on one host never fight. */
    instanceId,
    waWsUrl: url(env, "WA_WS_URL", ["ws:", "wss:", "ws+unix:"]),
    waTrustRoot: trustRoot?.toLowerCase(),
    /** Tests: the emulated media server's unix socket, bind-mounted into each sandbox (which has no network). */
    waMediaSocket: env.WA_MEDIA_SOCKET || undefined,
    /** Tests: the name:port sandboxes send every media request to through the gateway (the emulated media server, by the name its certificate holds). */
    waMediaHost: env.WA_MEDIA_HOST || undefined,
    /** Tests: the PEM certificate of the emulated media server's CA, trusted by sandboxes for it alone. */
    waMediaCa: env.WA_MEDIA_CA || undefined,
    /** How long each QR code is shown (WhatsApp sends six): unset keeps Baileys' 60 s then 20 s. */
    qrTimeoutSeconds: env.QR_TIMEOUT_SECONDS ? int(env, "QR_TIMEOUT_SECONDS", 20, 1, 600) : undefined,
    checkNumberPerMinute: int(env, "CHECK_NUMBER_PER_MINUTE", 30, 1, 100000),
    /** Messages a minute per session: bulk sending gets numbers banned. */
    sendPerMinute: int(env, "SEND_PER_MINUTE", 60, 1, 100000),
    requestTimeoutMs: int(env, "SANDBOX_REQUEST_TIMEOUT_MS", 10000, 100, 600000),
    /** How long a call that needs a sandbox waits for its channel (just after an API restart) before 503. */
    channelWaitMs: int(env, "CHANNEL_WAIT_MS", 5000, 0, 600000),
    /** Key the sessions' webhook secrets are derived from; unset: one kept in DATA_DIR/webhook.key. */
    webhookSecret,
    /** How long a failing delivery is retried before it is `dead`. */
    webhookRetryHours: num(env, "WEBHOOK_RETRY_HOURS", 24, 0.0001, 24 * 30),
    /** How long delivered rows are kept. */
    webhookKeepDays: num(env, "WEBHOOK_KEEP_DAYS", 7, 0.0001, 3650),
    /** First retry delay; each next one doubles (with jitter), up to an hour. */
    webhookBackoffMs: int(env, "WEBHOOK_BACKOFF_MS", 5000, 10, 3_600_000),
    webhookTimeoutMs: int(env, "WEBHOOK_TIMEOUT_MS", 10_000, 100, 120_000),
    /**
     * Let webhook and media URLs, and sessions' proxies, be loopback and private addresses (tests, a
     * receiver on the same host, a proxy on the LAN). WEBHOOK_ALLOW_PRIVATE is its old name, read when the new one is unset.
     */
    allowPrivateAddresses: env.ALLOW_PRIVATE_ADDRESSES ? bool(env, "ALLOW_PRIVATE_ADDRESSES", false) : bool(env, "WEBHOOK_ALLOW_PRIVATE", false),
    /** Where media files are kept; with several nodes, a folder every node reads and writes (a shared filesystem). */
    mediaDir: resolve(env.MEDIA_DIR || join(resolve(env.DATA_DIR || "./data"), "media")),
    /** The largest media file sent or received (a larger incoming one is not downloaded). */
    mediaMaxBytes: env.MEDIA_MAX_BYTES ? parseBytes("MEDIA_MAX_BYTES", env.MEDIA_MAX_BYTES) : 64 * 1024 ** 2,
    /** How long media files are kept; older ones are removed and their messages' media is `expired`. */
    mediaKeepDays: num(env, "MEDIA_KEEP_DAYS", 30, 0.0001, 36500),
    /** How long fetching a send's media.url may take, redirects and body included. */
    mediaFetchTimeoutMs: int(env, "MEDIA_FETCH_TIMEOUT_MS", 60_000, 100, 600_000),
    /** Whether incoming files are downloaded as they arrive; when false, POST …/media/download fetches one. */
    mediaAutoDownload: bool(env, "MEDIA_AUTO_DOWNLOAD", true),
    /** The ffmpeg that converts voice notes and reads videos (ffprobe beside it); missing, conversions answer 422. */
    ffmpegPath: env.FFMPEG_PATH || "ffmpeg",
    /** Bearer token that may read GET /metrics besides the admin key (a scraper need not hold the admin key). */
    metricsToken,
  };
}

let cachedVersion: string | undefined;
export function packageVersion(): string {
  if (cachedVersion) return cachedVersion;
  const pkg = JSON.parse(readFileSync(modulePath(import.meta.url, "../package.json"), "utf8")) as { version: string };
  cachedVersion = pkg.version;
  return cachedVersion;
}
