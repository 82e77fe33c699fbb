// One session's way out: a unix socket in the session's own folder (mounted into that session's
// container only, so whoever connects here is that session: nothing it says names it), taking
// HTTP CONNECT requests (the WhatsApp socket) and TLS sent straight to it, routed by the name its
// ClientHello asks for (media transfers; port 443, or the one port EGRESS_ALLOW gives the name).
// A destination outside EGRESS_ALLOW is refused before any connection is made; an allowed one is
// reached directly or, when the session has a proxy, only through it. The answer to a failed
// CONNECT says why in `X-Egress-Reason`, which the sandbox reports. What the sandbox sends is
// hostile input: heads are bounded, and refusals are logged at most once per 10 s a session.
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import type { Logger } from "../log";
import type { AllowList } from "./allow-list";
import type { EgressMetrics } from "./metrics";
import type { ProxyRoute } from "./proxy-url";
import { serverNameOf } from "./tls-sni";
import { openUpstream, UpstreamFailed } from "./upstream";

export const EGRESS_SOCKET = "egress.sock";
/** A CONNECT request's head is one line and a few headers. */
const MAX_HEAD = 8 * 1024;
const HEAD_TIMEOUT_MS = 10_000;
/** How long one side of a tunnel may stay open after the other closed. */
const HALF_OPEN_MS = 30_000;
const TLS_HANDSHAKE = 0x16;
const LOG_EVERY_MS = 10_000;

export interface TunnelSettings {
  allow: AllowList;
  allowPrivate: boolean;
  connectTimeoutMs: number;
  metrics: EgressMetrics;
  log: Logger;
}

/** The latest failure of a session's connections (GET /routes on the control socket, for an operator). */
export interface RouteFailure {
  reason: string;
  at: string;
}

export class SessionTunnels {
  private server: Server | null = null;
  private readonly open = new Set<Socket>();
  lastFailure: RouteFailure | null = null;
  private loggedAt = 0;
  private unlogged = 0;

  constructor(
    readonly sessionId: string,
    private readonly dir: string,
    private proxy: ProxyRoute | null,
    /** The route as the API gave it, to tell a change from the same route sent again. */
    public proxyUrl: string | null,
    private readonly s: TunnelSettings,
  ) {}

  get connections(): number {
    return this.open.size;
  }

  async listen(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    chmodSync(this.dir, 0o755);
    const path = join(this.dir, EGRESS_SOCKET);
    rmSync(path, { force: true });
    // Half-open allowed: a sandbox that ended its request still gets the whole answer.
    const server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => resolve());
    });
    // The container's user is not the gateway's: the socket is open to it (the folder is the session's).
    chmodSync(path, 0o666);
    this.server = server;
  }

  /** A new proxy (or none): connections made through the old route are closed, so the sandbox reconnects through the new one. */
  reroute(proxy: ProxyRoute | null, url: string | null): void {
    this.proxy = proxy;
    this.proxyUrl = url;
    this.lastFailure = null;
    for (const socket of this.open) socket.destroy();
  }

  async close(): Promise<void> {
    for (const socket of this.open) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = null;
    rmSync(join(this.dir, EGRESS_SOCKET), { force: true });
  }

  private accept(client: Socket): void {
    client.on("error", () => {});
    this.open.add(client);
    client.once("close", () => this.open.delete(client));
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => client.destroy(), HEAD_TIMEOUT_MS);
    const done = () => {
      clearTimeout(timer);
      client.off("data", onData);
      client.pause();
    };
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (head[0] === TLS_HANDSHAKE) {
        // An HTTPS request sent straight to the socket (a media transfer): routed by its SNI.
        const name = serverNameOf(head);
        if (name === undefined) return;
        done();
        if (name === null) {
          this.s.metrics.refused.inc({ why: "malformed" });
          client.destroy();
          return;
        }
        void this.route(client, name, this.s.allow.portFor(name, 443), head, null);
        return;
      }
      const end = head.indexOf("\r\n\r\n");
      if (end === -1) {
        if (head.length > MAX_HEAD) {
          done();
          this.refuse(client, 431, "request too long", "malformed");
        }
        return;
      }
      done();
      const m = /^CONNECT (\[[0-9a-fA-F:.]+\]|[^\s:]+):(\d{1,5}) HTTP\/1\.[01]$/.exec(head.subarray(0, end).toString("latin1").split("\r\n")[0] ?? "");
      if (!m) return this.refuse(client, 405, "only CONNECT host:port is taken", "malformed");
      void this.route(client, m[1]!.replace(/^\[(.*)\]$/, "$1"), Number(m[2]), head.subarray(end + 4), "connect");
    };
    client.on("data", onData);
  }

  /** `answer`: "connect" answers the CONNECT (200 or why not); null for a TLS stream, which is only cut when refused. */
  private async route(client: Socket, host: string, port: number, early: Buffer, answer: "connect" | null): Promise<void> {
    if (!this.s.allow.allows(host, port)) {
      this.logThrottled("egress refused", { host, port, why: "not in EGRESS_ALLOW" });
      if (answer) return this.refuse(client, 403, `${host}:${port} is not in EGRESS_ALLOW`, "not_allowed");
      this.s.metrics.refused.inc({ why: "not_allowed" });
      client.destroy();
      return;
    }
    const proxy = this.proxy;
    let upstream: Socket;
    try {
      upstream = await openUpstream({
        host,
        port,
        proxy,
        allowPrivate: this.s.allowPrivate || this.s.allow.namesAddress(host),
        proxyMayBePrivate: this.s.allowPrivate,
        timeoutMs: this.s.connectTimeoutMs,
      });
    } catch (err) {
      const reason = err instanceof UpstreamFailed ? err.reason : `WhatsApp unreachable (${(err as Error).message})`;
      this.lastFailure = { reason, at: new Date().toISOString() };
      this.s.metrics.failed.inc({ via: proxy ? proxy.scheme : "direct", cause: err instanceof UpstreamFailed && err.proxyFailed ? "proxy" : "destination" });
      this.logThrottled("egress failed", { host, port, via: proxy?.scheme ?? "direct", reason });
      if (answer) return this.refuse(client, 502, reason, null);
      client.destroy();
      return;
    }
    if (client.destroyed || proxy !== this.proxy) {
      // Closed while connecting, or the route changed meanwhile: this connection is not the session's any more.
      upstream.destroy();
      return;
    }
    this.lastFailure = null;
    if (answer) client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    this.relay(client, upstream, early, proxy ? proxy.scheme : "direct");
  }

  /**
   * Bytes both ways. An end is passed on (a response still being written is not cut); a side
   * that errs ends both; a side left half-open after the other closed is cut after a while.
   */
  private relay(client: Socket, upstream: Socket, early: Buffer, via: string): void {
    const m = this.s.metrics;
    this.open.add(upstream);
    m.connections.inc({ via });
    m.active.inc();
    upstream.once("close", () => {
      this.open.delete(upstream);
      m.active.dec();
    });
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    const bytes = m.bytesPending;
    if (early.length > 0) {
      upstream.write(early);
      bytes.out += early.length;
    }
    client.on("data", (c: Buffer) => (bytes.out += c.length));
    upstream.on("data", (c: Buffer) => (bytes.in += c.length));
    client.pipe(upstream);
    upstream.pipe(client);
    const cutLater = (other: Socket) => () => setTimeout(() => other.destroy(), HALF_OPEN_MS).unref();
    client.once("close", cutLater(upstream));
    upstream.once("close", cutLater(client));
    client.resume();
  }

  /** A warning at most every 10 s for this session, saying how many were left out since the last. */
  private logThrottled(msg: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    if (now - this.loggedAt < LOG_EVERY_MS) {
      this.unlogged++;
      return;
    }
    this.s.log.warn(msg, { sessionId: this.sessionId, ...fields, ...(this.unlogged > 0 ? { notLogged: this.unlogged } : {}) });
    this.loggedAt = now;
    this.unlogged = 0;
  }

  private refuse(client: Socket, status: number, reason: string, counted: "not_allowed" | "malformed" | null): void {
    if (counted) this.s.metrics.refused.inc({ why: counted });
    const text = { 403: "Forbidden", 405: "Method Not Allowed", 431: "Request Header Fields Too Large", 502: "Bad Gateway" }[status] ?? "Error";
    const safe = reason.replace(/[^\x20-\x7e]/g, "?");
    client.end(`HTTP/1.1 ${status} ${text}\r\nX-Egress-Reason: ${safe}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  }
}

export function sessionDir(root: string, sessionId: string): string {
  return join(root, "sessions", sessionId);
}
