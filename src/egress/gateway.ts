// The egress gateway: its own process (`bun run egress`, its own systemd unit), so restarting or
// upgrading the API leaves every session's connections to WhatsApp as they are. The API tells it
// each session's route over a control socket only the service user can open (DATA_DIR/egress/
// control.sock, mode 0600): `PUT /routes/{id}` with the proxy (or null), `DELETE /routes/{id}`,
// `GET /routes` (ids and their latest failure), `GET /health`, `GET /metrics`. Routes live in
// memory: a restarted gateway starts empty (its boot id changes) and the API sends them again.
import { randomUUID } from "node:crypto";
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../log";
import type { AllowList } from "./allow-list";
import { EgressMetrics } from "./metrics";
import { parseProxyUrl } from "./proxy-url";
import { SessionTunnels, sessionDir } from "./tunnels";

export const CONTROL_SOCKET = "control.sock";
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface GatewayOptions {
  /** DATA_DIR/egress: the control socket and each session's folder. */
  dir: string;
  allow: AllowList;
  allowPrivate: boolean;
  connectTimeoutMs?: number;
  log: Logger;
}

export interface RunningGateway {
  bootId: string;
  controlSocket: string;
  metrics: EgressMetrics;
  stop(): Promise<void>;
}

export async function startGateway(o: GatewayOptions): Promise<RunningGateway> {
  const bootId = randomUUID();
  const metrics = new EgressMetrics();
  const settings = { allow: o.allow, allowPrivate: o.allowPrivate, connectTimeoutMs: o.connectTimeoutMs ?? 15_000, metrics, log: o.log };
  const routes = new Map<string, SessionTunnels>();
  mkdirSync(join(o.dir, "sessions"), { recursive: true, mode: 0o755 });
  chmodSync(o.dir, 0o755);
  const controlSocket = join(o.dir, CONTROL_SOCKET);
  rmSync(controlSocket, { force: true });

  const json = (body: unknown, status = 200) => Response.json(body, { status });
  const server = Bun.serve({
    unix: controlSocket,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/health") return json({ ok: true, bootId, sessions: routes.size, allow: o.allow.entries.map((e) => `${e.kind === "wildcard" ? "*." : ""}${e.host}:${e.port}`) });
      if (path === "/metrics") return new Response(await metrics.registry.metrics(), { headers: { "content-type": metrics.registry.contentType } });
      if (path === "/routes" && req.method === "GET") {
        return json({ routes: [...routes.values()].map((r) => ({ id: r.sessionId, connections: r.connections, lastFailure: r.lastFailure })) });
      }
      const m = /^\/routes\/([^/]+)$/.exec(path);
      if (!m || !uuid.test(m[1]!)) return json({ error: "not found" }, 404);
      const id = m[1]!;
      if (req.method === "DELETE") {
        await routes.get(id)?.close();
        routes.delete(id);
        metrics.sessions.set(routes.size);
        return json({ ok: true });
      }
      if (req.method !== "PUT") return json({ error: "method not allowed" }, 405);
      const body = (await req.json().catch(() => null)) as { proxy?: string | null } | null;
      if (!body || (body.proxy !== null && typeof body.proxy !== "string")) return json({ error: "proxy: a URL or null" }, 400);
      let proxy = null;
      if (body.proxy !== null) {
        // The API checked it against ALLOW_PRIVATE_ADDRESSES already; here only its form matters.
        const parsed = parseProxyUrl(body.proxy, true);
        if (!parsed.ok) return json({ error: `proxy ${parsed.reason}` }, 400);
        proxy = parsed.proxy;
      }
      const known = routes.get(id);
      if (known) {
        if (body.proxy !== (known.proxyUrl ?? null)) known.reroute(proxy, body.proxy);
        return json({ ok: true });
      }
      const tunnels = new SessionTunnels(id, sessionDir(o.dir, id), proxy, body.proxy, settings);
      await tunnels.listen();
      routes.set(id, tunnels);
      metrics.sessions.set(routes.size);
      o.log.info("egress route set", { sessionId: id, via: proxy?.scheme ?? "direct" });
      return json({ ok: true }, 201);
    },
  });
  chmodSync(controlSocket, 0o600);
  o.log.info("egress gateway listening", { controlSocket, bootId, allow: o.allow.entries.length });
  return {
    bootId,
    controlSocket,
    metrics,
    async stop() {
      server.stop(true);
      for (const r of routes.values()) await r.close();
      routes.clear();
      rmSync(controlSocket, { force: true });
    },
  };
}
