// One session's way out: a unix socket in the session's own folder (mounted into that session's
// container only, so whoever connects here is that session: nothing it says names it), taking
// HTTP CONNECT requests (the WhatsApp socket) and TLS sent straight to it, routed by the name its
// ClientHello asks for (media transfers; port 443, or the one port EGRESS_ALLOW gives the name).
// A destination outside EGRESS_ALLOW is refused before any connection is made; an allowed one is
// reached directly or, when the session has a proxy, only through it. The answer to a failed
// CONNECT says why in `X-Egress-Reason`, which the sandbox reports. What the sandbox sends is
// hostile input: heads are bounded, and refusals are logged at most once per 10 s a session.
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../log";
import type { AllowList } from "./allow-list";
import type { EgressMetrics } from "./metrics";
import type { ProxyRoute } from "./proxy-url";
import { serverNameOf } from "./tls-sni";
import { BunEnd, relay, type End } from "./relay";
import { openUpstream, UpstreamFailed } from "./upstream";

export const EGRESS_SOCKET = "egress.sock";
/** A CONNECT request's head is one line and a few headers. */
const MAX_HEAD = 8 * 1024;
const HEAD_TIMEOUT_MS = 10_000;
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

/** One connection from the sandbox: its head (a CONNECT, or a TLS ClientHello) read, then relayed. */
interface Conn {
  end: BunEnd;
  /** The head as read so far; null once it was read. */
  head: Buffer | null;
  /** What came after the head while the way out was being made; null once relayed. */
  pending: Uint8Array[] | null;
  /** The sandbox ended its side while the way out was being made. */
  endedEarly: boolean;
  timer: ReturnType<typeof setTimeout>;
}

export class SessionTunnels {
  private listener: import("bun").UnixSocketListener<Conn> | null = null;
  private readonly open = new Set<End>();
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
    // Bun's own sockets (node:net's streams cost the relay CPU); half-open allowed: a sandbox that
    // ended its request still gets the whole answer.
    this.listener = Bun.listen<Conn>({
      unix: path,
      allowHalfOpen: true,
      socket: {
        open: (socket) => this.accept(socket),
        data: (socket, chunk) => {
          const c = socket.data;
          if (c.head) this.readHead(socket, c, chunk);
          else if (c.pending) c.pending.push(chunk.slice());
          else c.end.onData(chunk);
        },
        end: (socket) => {
          const c = socket.data;
          if (c.head) socket.terminate();
          else if (c.pending) c.endedEarly = true;
          else c.end.onEnd();
        },
        drain: (socket) => socket.data.end.onDrain(),
        close: (socket) => {
          clearTimeout(socket.data.timer);
          socket.data.end.onClose();
        },
        error: (socket) => socket.data.end.onError(),
      },
    });
    // The container's user is not the gateway's: the socket is open to it (the folder is the session's).
    chmodSync(path, 0o666);
  }

  /** A new proxy (or none): connections made through the old route are closed, so the sandbox reconnects through the new one. */
  reroute(proxy: ProxyRoute | null, url: string | null): void {
    this.proxy = proxy;
    this.proxyUrl = url;
    this.lastFailure = null;
    for (const end of this.open) end.destroy();
  }

  async close(): Promise<void> {
    for (const end of this.open) end.destroy();
    this.listener?.stop(true);
    this.listener = null;
    rmSync(join(this.dir, EGRESS_SOCKET), { force: true });
  }

  private accept(socket: import("bun").Socket<Conn>): void {
    const end: BunEnd = new BunEnd(socket as never, () => this.open.delete(end));
    socket.data = { end, head: Buffer.alloc(0), pending: [], endedEarly: false, timer: setTimeout(() => end.destroy(), HEAD_TIMEOUT_MS) };
    this.open.add(end);
  }

  private readHead(socket: import("bun").Socket<Conn>, c: Conn, chunk: Uint8Array): void {
    const head = (c.head = Buffer.concat([c.head!, chunk]));
    const done = () => {
      clearTimeout(c.timer);
      c.head = null;
      socket.pause();
    };
    if (head[0] === TLS_HANDSHAKE) {
      // An HTTPS request sent straight to the socket (a media transfer): routed by its SNI.
      const name = serverNameOf(head);
      if (name === undefined) return;
      done();
      if (name === null) {
        this.s.metrics.refused.inc({ why: "malformed" });
        c.end.destroy();
        return;
      }
      void this.route(c, name, this.s.allow.portFor(name, 443), head, null);
      return;
    }
    const endOfHead = head.indexOf("\r\n\r\n");
    if (endOfHead === -1) {
      if (head.length > MAX_HEAD) {
        done();
        this.refuse(c.end, 431, "request too long", "malformed");
      }
      return;
    }
    done();
    const m = /^CONNECT (\[[0-9a-fA-F:.]+\]|[^\s:]+):(\d{1,5}) HTTP\/1\.[01]$/.exec(head.subarray(0, endOfHead).toString("latin1").split("\r\n")[0] ?? "");
    if (!m) return this.refuse(c.end, 405, "only CONNECT host:port is taken", "malformed");
    void this.route(c, m[1]!.replace(/^\[(.*)\]$/, "$1"), Number(m[2]), head.subarray(endOfHead + 4), "connect");
  }

  /** `answer`: "connect" answers the CONNECT (200 or why not); null for a TLS stream, which is only cut when refused. */
  private async route(c: Conn, host: string, port: number, early: Uint8Array, answer: "connect" | null): Promise<void> {
    const client = c.end;
    if (!this.s.allow.allows(host, port)) {
      this.logThrottled("egress refused", { host, port, why: "not in EGRESS_ALLOW" });
      if (answer) return this.refuse(client, 403, `${host}:${port} is not in EGRESS_ALLOW`, "not_allowed");
      this.s.metrics.refused.inc({ why: "not_allowed" });
      client.destroy();
      return;
    }
    const proxy = this.proxy;
    let upstream: End;
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
    if (client.closed || proxy !== this.proxy) {
      // Closed while connecting, or the route changed meanwhile: this connection is not the session's any more.
      upstream.destroy();
      return;
    }
    this.lastFailure = null;
    if (answer) client.write(CONNECTED);
    const m = this.s.metrics;
    m.connections.inc({ via: proxy ? proxy.scheme : "direct" });
    m.active.inc();
    const first = c.pending!.length > 0 ? Buffer.concat([early, ...c.pending!]) : early;
    c.pending = null;
    relay(client, upstream, first, m.bytesPending);
    if (c.endedEarly) upstream.end();
    // After the relay set its handlers: the set forgets the upstream once closed, and the gauge follows.
    this.open.add(upstream);
    const closeUp = upstream.handlers.close;
    upstream.handlers.close = () => {
      this.open.delete(upstream);
      m.active.dec();
      closeUp();
    };
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

  private refuse(client: BunEnd, status: number, reason: string, counted: "not_allowed" | "malformed" | null): void {
    if (counted) this.s.metrics.refused.inc({ why: counted });
    const text = { 403: "Forbidden", 405: "Method Not Allowed", 431: "Request Header Fields Too Large", 502: "Bad Gateway" }[status] ?? "Error";
    const safe = reason.replace(/[^\x20-\x7e]/g, "?");
    client.write(Buffer.from(`HTTP/1.1 ${status} ${text}\r\nX-Egress-Reason: ${safe}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`));
    client.end();
  }
}

const CONNECTED = Buffer.from("HTTP/1.1 200 Connection Established\r\n\r\n");

export function sessionDir(root: string, sessionId: string): string {
  return join(root, "sessions", sessionId);
}
