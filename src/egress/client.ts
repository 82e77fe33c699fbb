// The API's side of the gateway's control socket: each session's route (its proxy, or none)
// sent when the session is created, started or changed, and sent again whole when the gateway
// restarted (its boot id changed) or came up after the API; its health for /ready and its
// metrics appended to the API's. The gateway may be down: sends wait for the next check.
import { join } from "node:path";
import type { Logger } from "../log";
import { unixFetch, type UnixFetch } from "../platform/unix-fetch";
import { CONTROL_SOCKET } from "./gateway";

export interface GatewayHealth {
  ok: boolean;
  bootId?: string;
  sessions?: number;
  error?: string;
}

export interface RouteState {
  id: string;
  connections: number;
  lastFailure: { reason: string; at: string } | null;
}

/** The routes the API wants, by session id (the proxy URL whole, or null): read again on each resync. */
export type RouteSource = () => Promise<Map<string, string | null>>;

export class GatewayClient {
  private readonly fetch: UnixFetch;
  private bootId: string | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private syncing: Promise<void> | null = null;

  constructor(
    dir: string,
    private readonly routes: RouteSource,
    private readonly log: Logger,
    private readonly timeoutMs = 2000,
  ) {
    this.fetch = unixFetch(join(dir, CONTROL_SOCKET));
  }

  /** Checks the gateway every `everyMs` and sends every route again when it is new. */
  watch(everyMs = 2000): void {
    const tick = () => void this.check().catch(() => {});
    tick();
    this.timer = setInterval(tick, everyMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async health(): Promise<GatewayHealth> {
    try {
      const res = await this.call("GET", "/health");
      return res.ok ? ((await res.json()) as GatewayHealth) : { ok: false, error: `HTTP ${res.status}` };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  }

  /** Sets one session's route; false when the gateway cannot be reached (the next check sends it). */
  async setRoute(sessionId: string, proxy: string | null): Promise<boolean> {
    try {
      const res = await this.call("PUT", `/routes/${sessionId}`, { proxy });
      if (!res.ok) this.log.warn("egress route refused", { sessionId, status: res.status, error: ((await res.json().catch(() => ({}))) as { error?: string }).error });
      return res.ok;
    } catch {
      return false;
    }
  }

  async dropRoute(sessionId: string): Promise<void> {
    await this.call("DELETE", `/routes/${sessionId}`).catch(() => {});
  }

  async routeStates(): Promise<RouteState[]> {
    const res = await this.call("GET", "/routes");
    return ((await res.json()) as { routes: RouteState[] }).routes;
  }

  /** The gateway's Prometheus text, or "" when it cannot be had. */
  async metrics(): Promise<string> {
    try {
      const res = await this.call("GET", "/metrics");
      return res.ok ? await res.text() : "";
    } catch {
      return "";
    }
  }

  private async check(): Promise<void> {
    const h = await this.health();
    if (!h.ok || !h.bootId) {
      if (this.bootId !== null) this.log.warn("egress gateway unreachable", { error: h.error });
      this.bootId = null;
      return;
    }
    if (h.bootId === this.bootId) return;
    this.syncing ??= this.resync(h.bootId).finally(() => (this.syncing = null));
    await this.syncing;
  }

  private async resync(bootId: string): Promise<void> {
    const wanted = await this.routes();
    let sent = 0;
    for (const [id, proxy] of wanted) if (await this.setRoute(id, proxy)) sent++;
    this.bootId = bootId;
    this.log.info("egress routes sent", { bootId, sessions: sent });
  }

  private call(method: string, path: string, body?: unknown): Promise<Response> {
    return this.fetch(`http://egress${path}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
  }
}
