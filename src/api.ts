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
import { makeLaunch } from "./sessions/launch";
import { DeliveryRepository } from "./db/delivery-repository";
import { MessageRepository } from "./db/message-repository";
import { loadKey } from "./key-file";
import { WebhookDispatcher } from "./webhooks/dispatcher";
import { WebhookSecrets } from "./webhooks/secrets";
import { Metrics } from "./metrics";
import { serve, type RequestContext, type RunningServer } from "./platform/serve";
import { deliveryStatuses, sessionStates } from "./db/schema";

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
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  log.info("database ready", { kind: database.kind });
  const repo = new SessionRepository(database.db);
  const adminKeys = new AdminKeyRepository(database.db);
  await ensureAdminKey(adminKeys, config.adminApiKey, { dataDir: config.dataDir, log, print: printAdminKey });
  // Before any reconcile: refuses an INSTANCE_ID whose containers another installation made.
  await claimInstance(database.db, runtime, config.instanceId, log).catch(async (err) => {
    await database.close();
    throw err;
  });

  const tokens = new ChannelTokens(loadChannelKey(config.channelSecret, config.dataDir));
  const channelSocket = config.channelUrl ? undefined : (config.channelSocket ?? join(config.dataDir, "channel", "channel.sock"));
  const effective: Config = { ...config, channelSocket };
  const deliveries = new DeliveryRepository(database.db);
  const secrets = new WebhookSecrets(loadKey(config.webhookSecret, config.dataDir, "webhook.key"));
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
    allowPrivate: config.webhookAllowPrivate,
    onAttempt: (attempt) => metrics.webhookAttempt(attempt.status),
  });
  // Live events for GET /events (the dashboard): in process, after each commit.
  const bus = new SessionEventBus();
  let sessions!: Sessions;
  const channel = new ChannelHub({
    tokens,
    log,
    admits: (id, launchId) => sessions.reports.admits(id, launchId),
    onReport: (id, launchId, report) => sessions.reports.apply(id, launchId, report),
    onConnected: (id) => {
      void repo
        .byId(id)
        .then((s) => (s?.state === "ready" ? sessions.messaging.flush(s) : undefined))
        .catch((err) => log.warn("pending messages not handed over", { sessionId: id, error: String(err) }));
    },
  });
  sessions = createSessions({
    repo,
    deliveries,
    messages: new MessageRepository(database.db),
    secrets,
    runtime,
    link: metrics.timedLink(channel),
    launch: makeLaunch(effective, tokens),
    config,
    log,
    // Events are in the outbox with each change; the dispatcher only needs waking.
    listener: { written: (id) => dispatcher.wake(id), reportApplied: (type, stored) => metrics.report(type, stored), ...bus.listener },
  });

  let runningAtStart = new Set<string>();
  try {
    await runtime.check();
    runningAtStart = (await sessions.runtimeSync.reconcile()).running;
  } catch (err) {
    // The API still serves reads; creating and starting answer 503 until the engine is back.
    log.error("container runtime unavailable", { error: err instanceof Error ? err.message : String(err) });
  }
  const recovery = setTimeout(() => {
    sessions.runtimeSync.restartSilentSandboxes(runningAtStart).catch((err) => log.error("channel recovery failed", { error: String(err) }));
  }, config.channelGraceSeconds * 1000);
  dispatcher.start();
  const unwatch = runtime.watch((event) => {
    sessions.runtimeSync
      .onEvent(event)
      .catch((err) => log.error("runtime event failed", { sessionId: "sessionId" in event ? event.sessionId : undefined, error: String(err) }));
  });

  const callers = new Callers((hash) => sessions.queries.byKeyHash(hash), adminKeys);
  const events = new EventStreams({ bus, callers });
  const { app, handle: answer } = createApp({
    database,
    log,
    sessions,
    callers,
    events,
    openSessionCreate: config.openSessionCreate,
    createRateLimitPerMinute: config.createRateLimitPerMinute,
    trustProxy: config.trustProxy,
    ops: { runtime, metrics, metricsToken: config.metricsToken },
  });
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
  let unixServer: RunningServer | undefined;
  if (channelSocket) {
    mkdirSync(dirname(channelSocket), { recursive: true, mode: 0o755 });
    // The container's non-root user (an unmapped uid on the host) must reach the socket; the
    // folder holds nothing else, and every connection still needs a valid token.
    chmodSync(dirname(channelSocket), 0o755);
    rmSync(channelSocket, { force: true });
    unixServer = await serve<ChannelSocketData>({
      listen: { unix: channelSocket },
      // Only the channel here: the REST API is not reachable through the containers' socket.
      fetch: channel.handler(() => new Response("Not found", { status: 404 })),
      websocket: channel.websocket,
    });
    chmodSync(channelSocket, 0o666);
  }
  const url = `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${http.port}`;
  log.info("API listening", { url, channelSocket, channelUrl: config.channelUrl });

  return {
    url,
    config: effective,
    database,
    sessions,
    channel,
    routes: app.routes.map((r) => ({ method: r.method, path: r.path, hidden: r.hooks?.detail?.hide === true })),
    async stop() {
      clearTimeout(recovery);
      unwatch();
      // Event streams never end by themselves: closed first, so they do not hold the stop.
      events.closeAll();
      // New connections are refused; requests in flight finish (bounded) while the sandboxes are
      // still there to answer them. Then the sandboxes hear "going away" (1001) and reconnect to
      // the next start; they keep running.
      const grace = new AbortController();
      await Promise.race([http.stop(false), sleep(STOP_GRACE_MS, undefined, { signal: grace.signal }).catch(() => {})]);
      grace.abort();
      await http.stop(true);
      await dispatcher.stop();
      channel.close();
      await unixServer?.stop(true);
      await database.close();
      log.info("API stopped");
    },
  };
}
