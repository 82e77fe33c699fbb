// Boots the API: database and migrations, admin key, channel, runtime, reconcile, and the
// servers (HTTP on PORT, the channel also on a unix socket for containers without a network),
// on Bun or Deno through src/platform/serve.ts.
// Stopping the API closes its servers but leaves sandboxes running: they reconnect later.
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureAdminKey } from "./auth/admin";
import { Callers } from "./auth/callers";
import { ChannelHub, type ChannelSocketData } from "./channel/hub";
import { ChannelTokens, loadChannelKey } from "./channel/tokens";
import type { Config } from "./config";
import { AdminKeyRepository } from "./db/admin-key-repository";
import { openDatabase, type Database } from "./db/client";
import { SessionRepository } from "./db/session-repository";
import { createApp } from "./http/app";
import { EventStreams } from "./http/event-stream";
import { SessionEventBus } from "./sessions/event-bus";
import { rememberAddress } from "./http/client-address";
import { SERVER_MAX_BODY_BYTES } from "./http/json-body";
import type { Logger } from "./log";
import { claimInstance } from "./runtime/instance-identity";
import type { SessionRuntime } from "./runtime/types";
import { createSessions, type Sessions } from "./sessions";
import { makeLaunch } from "./sessions/container-env";
import { DeliveryRepository } from "./db/delivery-repository";
import { GroupRepository } from "./db/group-repository";
import { MessageChanges } from "./db/message-changes";
import { MessageRepository } from "./db/message-repository";
import { FileMediaStore } from "./media/store";
import { loadKey } from "./key-file";
import { WebhookDispatcher } from "./webhooks/dispatcher";
import { WebhookSecrets } from "./webhooks/secrets";
import { GatewayClient } from "./egress/client";
import { ProxySecrets } from "./egress/proxy-secrets";
import { SessionProxies } from "./sessions/proxies";
import { Metrics } from "./metrics";
import { serve, type RequestContext, type RunningServer } from "./platform/serve";
import { sessionStates } from "./model/session-states";
import { deliveryStatuses } from "./model/webhook-events";
import { NodeRepository } from "./db/node-repository";
import { AuthStateRepository } from "./db/auth-state-repository";
import { AuthStateMirror } from "./sessions/auth-state";
import { NodeRegistry } from "./nodes/registry";
import { NodeForwarder } from "./nodes/forward";
import { relayEvents } from "./nodes/event-relay";
import { resolveNodeId } from "./nodes/node-id";

/** How long a stop waits for requests in flight (a sandbox call waits up to SANDBOX_REQUEST_TIMEOUT_MS). */
const STOP_GRACE_MS = 20_000;

export interface RunningApi {
  url: string;
  config: Config;
  database: Database;
  sessions: Sessions;
  channel: ChannelHub;
  /** Every route the REST API serves (method and Elysia path, e.g. /sessions/:id), for tests. */
  routes: readonly { method: string; path: string; hidden: boolean }[];
  stop(): Promise<void>;
}

export interface StartOptions {
  config: Config;
  log: Logger;
  runtime: SessionRuntime;
  printAdminKey?: (line: string) => void;
}

export async function startApi({ config, log, runtime, printAdminKey }: StartOptions): Promise<RunningApi> {
  const store = await openStore(config, log, runtime, printAdminKey);
  const channelSocket = config.channelUrl ? undefined : (config.channelSocket ?? join(config.dataDir, "channel", "channel.sock"));
  const effective: Config = { ...config, channelSocket };
  const tokens = new ChannelTokens(loadChannelKey(config.channelSecret, config.dataDir));
  // This node among those sharing the database (one alone on PGlite).
  const registry = await joinNodes(config, store, runtime, log);
  // The hub is the domain's link to sandboxes; the domain is where the hub's reports go.
  const channel = new ChannelHub({ tokens, log });
  const domain = buildDomain({ config, effective, log, runtime, store, channel, tokens, registry });
  channel.attach(domain.sessions.reports);
  const stopRelay = store.database.pubsub ? await relayEvents(domain.bus, store.database.pubsub, registry.self, log) : async () => {};
  // Routes first: a sandbox started by the reconcile finds its way out.
  domain.gateway?.watch();
  // Before anything else is done with them: containers of sessions other nodes own now go.
  await domain.sessions.handovers?.fence().catch((err) => log.error("fencing at start failed", { error: err }));
  const stopSync = await followRuntime(domain.sessions, runtime, config, log);
  const handovers = domain.sessions.handovers;
  if (handovers) {
    registry.onTick(() => void handovers.run());
    registry.onLost(() => void handovers.fenceSelf().catch((err) => log.error("self-fencing failed", { node: registry.self, error: err })));
    void handovers.run();
  }
  const stopRetention = keepMedia(domain.sessions, config, log);
  domain.dispatcher.start();

  const callers = new Callers((hash) => domain.sessions.queries.byKeyHash(hash), store.adminKeys);
  const events = new EventStreams({ bus: domain.bus, callers });
  const { app, handle } = createApp({
    database: store.database,
    log,
    sessions: domain.sessions,
    callers,
    events,
    openSessionCreate: config.openSessionCreate,
    createRateLimitPerMinute: config.createRateLimitPerMinute,
    trustProxy: config.trustProxy,
    forwarder: store.database.kind === "postgres" ? new NodeForwarder(config.nodeSecret, registry.self, (id) => registry.reachable(id), log) : null,
    registry,
    ops: { runtime, metrics: domain.metrics, metricsToken: config.metricsToken, gateway: domain.gateway },
  });
  const servers = await serveAll(config, channel, channelSocket, handle);
  log.info("API listening", { url: servers.url, channelSocket, channelUrl: config.channelUrl });

  return {
    url: servers.url,
    config: effective,
    database: store.database,
    sessions: domain.sessions,
    channel,
    routes: app.routes.map((r) => ({ method: r.method, path: r.path, hidden: r.hooks?.detail?.hide === true })),
    async stop() {
      await registry.stop();
      await stopRelay().catch(() => {});
      stopSync();
      stopRetention();
      domain.gateway?.stop();
      // Event streams never end by themselves: closed first, so they do not hold the stop.
      events.closeAll();
      // New connections are refused; requests in flight finish (bounded) while the sandboxes are
      // still there to answer them. Then the sandboxes hear "going away" (1001) and reconnect to
      // the next start; they keep running.
      const grace = new AbortController();
      await Promise.race([servers.http.stop(false), sleep(STOP_GRACE_MS, undefined, { signal: grace.signal }).catch(() => {})]);
      grace.abort();
      await servers.http.stop(true);
      await domain.dispatcher.stop();
      channel.close();
      await servers.unix?.stop(true);
      await store.database.close();
      log.info("API stopped");
    },
  };
}

interface Store {
  database: Database;
  repo: SessionRepository;
  adminKeys: AdminKeyRepository;
}

/** The database with its migrations, the admin key, and this installation's claim on the engine. */
async function openStore(config: Config, log: Logger, runtime: SessionRuntime, printAdminKey: StartOptions["printAdminKey"]): Promise<Store> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  log.info("database ready", { kind: database.kind });
  const adminKeys = new AdminKeyRepository(database.db);
  await ensureAdminKey(adminKeys, config.adminApiKey, { dataDir: config.dataDir, log, print: printAdminKey });
  // Before any reconcile: refuses an INSTANCE_ID whose containers another installation made.
  await claimInstance(database.db, runtime, config.instanceId, log).catch(async (err) => {
    await database.close();
    throw err;
  });
  return { database, repo: new SessionRepository(database.db), adminKeys };
}

/** The session domain and what listens to it: metrics, the webhook dispatcher, live events. */
function buildDomain(o: { config: Config; effective: Config; log: Logger; runtime: SessionRuntime; store: Store; channel: ChannelHub; tokens: ChannelTokens; registry: NodeRegistry }) {
  const { config, log, runtime, store, channel, registry } = o;
  const { repo, database } = store;
  // Nodes sharing PostgreSQL hand sessions over, lease webhooks and forward calls; PGlite is one node alone.
  const multi = database.kind === "postgres";
  const deliveries = new DeliveryRepository(database.db);
  const outsideKey = loadKey(config.webhookSecret, config.dataDir, "webhook.key");
  const secrets = new WebhookSecrets(outsideKey);
  // Sandboxes reach WhatsApp only through the egress gateway (its own process), unless the tests
  // hand them the emulator's own socket (WA_WS_URL ws+unix).
  const routes = async (): Promise<Map<string, string | null>> => new Map((await repo.list()).map((r) => [r.id, proxies.urlOf(r)]));
  const gateway: GatewayClient | null = usesGateway(config) ? new GatewayClient(config.egressDir, routes, log) : null;
  const proxies = new SessionProxies({ secrets: new ProxySecrets(outsideKey), gateway, allowPrivate: config.allowPrivateAddresses, log });
  // ops: metrics; gauges are read at scrape from the database, the engine and the channel.
  const metrics = new Metrics({
    log,
    sessionStates,
    deliveryStatuses,
    sources: {
      sessionsByState: () => repo.countByState(),
      runningSandboxes: async () => (await runtime.list()).filter((b) => b.running).length,
      connectedChannels: () => channel.connectedCount,
      deliveriesByStatus: () => deliveries.counts(),
    },
  });
  const dispatcher = new WebhookDispatcher({
    deliveries,
    session: (id) => repo.byId(id),
    secrets,
    log,
    retryHours: config.webhookRetryHours,
    keepDays: config.webhookKeepDays,
    backoffMs: config.webhookBackoffMs,
    timeoutMs: config.webhookTimeoutMs,
    allowPrivate: config.allowPrivateAddresses,
    onAttempt: (attempt) => metrics.webhookAttempt(attempt.status),
    // Every node delivers; a session's events go from one node at a time.
    lease: multi ? { node: registry.self, deadSeconds: config.nodeDeadSeconds } : undefined,
  });
  // Live events for GET /events (the dashboard): in process, after each commit.
  const bus = new SessionEventBus();
  const sessions = createSessions({
    repo,
    deliveries,
    messages: new MessageRepository(database.db),
    groups: new GroupRepository(database.db),
    messageChanges: new MessageChanges(database.db),
    mediaStore: new FileMediaStore(config.mediaDir, registry.self),
    secrets,
    runtime,
    link: metrics.timedLink(channel),
    launch: makeLaunch(o.effective, o.tokens, gateway ? { dir: config.egressDir, route: async (id) => void (await proxies.push({ id, proxyEncrypted: (await repo.byId(id))?.proxyEncrypted ?? null })) } : null),
    proxies,
    placement: registry,
    authState: config.authStateMirror ? new AuthStateMirror(new AuthStateRepository(database.db), loadKey(config.authStateKey, config.dataDir, "auth-state.key")) : null,
    cluster: multi ? { nodes: new NodeRepository(database.db), views: () => registry.nodes, steady: () => registry.steady, capacity: registry.capacity, deadSeconds: config.nodeDeadSeconds } : null,
    config,
    log,
    // Events are in the outbox with each change; the dispatcher only needs waking.
    listener: { written: (id) => dispatcher.wake(id), reportApplied: (type, stored) => metrics.report(type, stored), ...bus.listener },
  });
  return { sessions, metrics, dispatcher, bus, gateway };
}

/**
 * This node's row among the nodes sharing the database, its heartbeat started. Several nodes
 * need PostgreSQL: PGlite lives in one process, so an API on it is one node alone.
 */
async function joinNodes(config: Config, store: Store, runtime: SessionRuntime, log: Logger): Promise<NodeRegistry> {
  const id = resolveNodeId(config.nodeId, config.dataDir);
  const capacity = config.nodeCapacity ?? config.maxSessions;
  if (store.database.kind === "pglite") {
    log.info("one node alone: PGlite serves one process (set DATABASE_URL to run several nodes)", { node: id });
    if (config.nodeUrl || config.nodeSecret) log.warn("NODE_URL and NODE_SECRET are unused without DATABASE_URL", { node: id });
  } else if (!config.nodeSecret) {
    log.warn("no NODE_SECRET: calls for other nodes' sessions answer 503 (set the same NODE_SECRET on every node)", { node: id });
  }
  const registry = new NodeRegistry({
    repo: new NodeRepository(store.database.db),
    self: { id, url: config.nodeUrl ?? `http://127.0.0.1:${config.port}`, capacity, bootId: crypto.randomUUID() },
    deadSeconds: config.nodeDeadSeconds,
    pubsub: store.database.pubsub,
    alone: store.database.kind === "pglite",
    log,
  });
  // The engine may be down now: then this node claims only what no other node could run.
  const local = await runtime.list().then((boxes) => boxes.map((b) => b.sessionId), () => []);
  await registry.start(local);
  return registry;
}

/** Whether sandboxes go out through the egress gateway: always, but for the tests' direct emulator socket. */
export function usesGateway(config: Pick<Config, "waWsUrl">): boolean {
  return !config.waWsUrl?.startsWith("ws+unix:");
}

/**
 * Containers as the database says they should be (reconcile), sandboxes that do not come back
 * to the channel restarted, and the engine's events followed; answers how to stop following.
 */
async function followRuntime(sessions: Sessions, runtime: SessionRuntime, config: Config, log: Logger): Promise<() => void> {
  let runningAtStart = new Set<string>();
  try {
    await runtime.check();
    runningAtStart = (await sessions.runtimeSync.reconcile()).running;
  } catch (err) {
    // The API still serves reads; creating and starting answer 503 until the engine is back.
    log.error("container runtime unavailable", { error: err });
  }
  const recovery = setTimeout(() => {
    sessions.runtimeSync.restartSilentSandboxes(runningAtStart).catch((err) => log.error("channel recovery failed", { error: err }));
  }, config.channelGraceSeconds * 1000);
  const unwatch = runtime.watch((event) => {
    sessions.runtimeSync
      .onEvent(event)
      .catch((err) => log.error("runtime event failed", { sessionId: "sessionId" in event ? event.sessionId : undefined, error: err }));
  });
  return () => {
    clearTimeout(recovery);
    unwatch();
  };
}

/** MEDIA_KEEP_DAYS: old media files removed at start and every hour; files that never came marked failed. */
function keepMedia(sessions: Sessions, config: Config, log: Logger): () => void {
  const sweep = () =>
    void sessions.media
      .expire(new Date(Date.now() - config.mediaKeepDays * 86_400_000))
      // A file the sandbox has not delivered in an hour will not come (it retries for about 80 s).
      .then(() => sessions.media.failStale(new Date(Date.now() - 3_600_000)))
      .catch((err) => log.warn("media retention failed", { error: err }));
  const first = setTimeout(sweep, 10_000);
  const every = setInterval(sweep, 3_600_000);
  every.unref?.();
  first.unref?.();
  return () => {
    clearTimeout(first);
    clearInterval(every);
  };
}

/** The REST API on PORT (with the channel when sandboxes reach it over TCP), and the channel on its unix socket. */
async function serveAll(config: Config, channel: ChannelHub, channelSocket: string | undefined, answer: (req: Request) => Promise<Response>) {
  const handle = (req: Request, ctx: RequestContext<ChannelSocketData>): Promise<Response> => {
    rememberAddress(req, () => ctx.address());
    return answer(req);
  };
  const http = await serve<ChannelSocketData>({
    listen: { port: config.port, hostname: config.host },
    // The channel is served on the REST port only when sandboxes are told to reach it there.
    ...(config.channelUrl ? { fetch: channel.handler(handle), websocket: channel.websocket } : { fetch: handle }),
    // Our own reader answers 413 in the API's error shape, after auth; this is only the hard stop.
    maxRequestBodySize: SERVER_MAX_BODY_BYTES,
    // Stopping or deleting a session waits for its container (up to its stop timeout).
    idleTimeoutSeconds: 60,
  });
  let unix: RunningServer | undefined;
  if (channelSocket) {
    mkdirSync(dirname(channelSocket), { recursive: true, mode: 0o755 });
    // The container's non-root user (an unmapped uid on the host) must reach the socket; the
    // folder holds nothing else, and every connection still needs a valid token.
    chmodSync(dirname(channelSocket), 0o755);
    rmSync(channelSocket, { force: true });
    unix = await serve<ChannelSocketData>({
      listen: { unix: channelSocket },
      // Only the channel here: the REST API is not reachable through the containers' socket.
      fetch: channel.handler(() => new Response("Not found", { status: 404 })),
      websocket: channel.websocket,
      // A media file's upload (media-transfer.ts) is as large as MEDIA_MAX_BYTES; the domain stops it there.
      maxRequestBodySize: config.mediaMaxBytes + 1024 * 1024,
    });
    chmodSync(channelSocket, 0o666);
  }
  const url = `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${http.port}`;
  return { http, unix, url };
}
