// The API's end of the channel: sandboxes connect over WebSocket (TCP or a unix socket), prove
// who they are with a JWT, and send numbered reports that are acknowledged only once stored.
// The API sends requests over the same connection and renews the token before it expires.
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import { randomUUID } from "node:crypto";
import type { Logger } from "../log";
import { SandboxTimeout, SandboxUnavailable, type SandboxLink } from "./link";
import {
  CHANNEL_PATH,
  parseFrame,
  type ApiFrame,
  type Report,
  type SandboxFrame,
  type SandboxRequest,
  type SandboxResponse,
} from "./frames";
import { TOKEN_TTL_SECONDS, type ChannelTokens } from "./tokens";

export interface ChannelSocketData {
  sessionId: string;
  launchId: string;
  /** Set when a report could not be stored: later ones on this connection are not acked either. */
  broken?: boolean;
}

type Socket = ServerWebSocket<ChannelSocketData>;

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export interface ChannelHubOptions {
  tokens: ChannelTokens;
  log: Logger;
  /** Stores a report; the sandbox gets its ack only after this resolves. */
  onReport: (sessionId: string, launchId: string, report: Report) => Promise<void>;
  /** Whether the session's current launch is `launchId` (a stopped or replaced sandbox is not). */
  admits: (sessionId: string, launchId: string) => Promise<boolean>;
  renewEveryMs?: number;
}

export class ChannelError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class ChannelHub implements SandboxLink {
  private readonly sockets = new Map<string, Socket>();
  private readonly pending = new Map<string, Pending>();
  /** Highest stored sequence number per session and sandbox boot, so resent reports apply once. */
  private readonly lastSeq = new Map<string, { boot: string; seq: number }>();
  /** Reports of one session are stored in order, one at a time. */
  private readonly queues = new Map<string, Promise<void>>();
  private readonly renewTimer: ReturnType<typeof setInterval>;

  /** A Bun `fetch` handler serving the channel, and `fallback` for every other request. */
  handler(fallback: (req: Request, server: Server<ChannelSocketData>) => Response | Promise<Response>) {
    return async (req: Request, server: Server<ChannelSocketData>): Promise<Response | undefined> => {
      const result = await this.upgrade(req, server);
      if (result === "upgraded") return undefined;
      return result === "not-channel" ? fallback(req, server) : result;
    };
  }

  constructor(private readonly opts: ChannelHubOptions) {
    this.renewTimer = setInterval(() => void this.renewAll(), opts.renewEveryMs ?? (TOKEN_TTL_SECONDS * 1000) / 3);
    this.renewTimer.unref?.();
  }

  /**
   * Handles `GET /channel/<sessionId>`: "upgraded" when the socket is now a channel (the server
   * must then answer nothing), a refusal Response, or "not-channel" for any other path.
   */
  async upgrade(req: Request, server: Server<ChannelSocketData>): Promise<Response | "upgraded" | "not-channel"> {
    const url = new URL(req.url);
    if (!url.pathname.startsWith(CHANNEL_PATH + "/")) return "not-channel";
    const sessionId = decodeURIComponent(url.pathname.slice(CHANNEL_PATH.length + 1));
    const auth = req.headers.get("authorization") ?? "";
    const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
    const verified = token ? await this.opts.tokens.verify(token, sessionId) : null;
    if (!verified || !(await this.opts.admits(sessionId, verified.launchId))) {
      this.opts.log.warn("channel connection refused", { sessionId, reason: token ? "invalid token" : "no token" });
      return Response.json({ success: false, error: "Invalid channel token", code: "INVALID_CHANNEL_TOKEN" }, { status: 401 });
    }
    if (server.upgrade(req, { data: { sessionId, launchId: verified.launchId } })) return "upgraded";
    return Response.json({ success: false, error: "Expected a WebSocket upgrade", code: "UPGRADE_REQUIRED" }, { status: 426 });
  }

  readonly websocket: WebSocketHandler<ChannelSocketData> = {
    open: (ws) => {
      const { sessionId } = ws.data;
      const previous = this.sockets.get(sessionId);
      this.sockets.set(sessionId, ws);
      // A sandbox has one connection: a newer one replaces an older (half-dead) one.
      if (previous && previous !== ws) previous.close(4000, "replaced by a newer connection");
      this.opts.log.info("sandbox connected to channel", { sessionId });
      void this.renew(sessionId);
    },
    message: (ws, data) => {
      const frame = parseFrame<SandboxFrame>(data as string);
      if (!frame) {
        this.opts.log.warn("malformed channel frame", { sessionId: ws.data.sessionId });
        return;
      }
      if (frame.kind === "report") this.enqueue(ws, frame);
      else if (frame.kind === "response") this.settle(frame);
    },
    close: (ws, code) => {
      const { sessionId } = ws.data;
      if (this.sockets.get(sessionId) === ws) {
        this.sockets.delete(sessionId);
        this.opts.log.info("sandbox left channel", { sessionId, code });
      }
    },
  };

  isConnected(sessionId: string): boolean {
    return this.sockets.has(sessionId);
  }

  request<R extends SandboxRequest>(sessionId: string, req: R, timeoutMs: number): Promise<SandboxResponse<R>> {
    const ws = this.sockets.get(sessionId);
    if (!ws) return Promise.reject(new SandboxUnavailable(`sandbox of ${sessionId} is not connected`));
    const id = randomUUID();
    return new Promise<SandboxResponse<R>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SandboxTimeout(`sandbox of ${sessionId} did not answer ${req.type} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.send(ws, { kind: "request", id, request: req });
    });
  }

  disconnect(sessionId: string): void {
    const ws = this.sockets.get(sessionId);
    if (!ws) return;
    this.sockets.delete(sessionId);
    ws.close(4001, "session stopped");
  }

  close(): void {
    clearInterval(this.renewTimer);
    for (const ws of this.sockets.values()) ws.close(1001, "API shutting down");
    this.sockets.clear();
  }

  private enqueue(ws: Socket, frame: Extract<SandboxFrame, { kind: "report" }>): void {
    const { sessionId } = ws.data;
    const prev = this.queues.get(sessionId) ?? Promise.resolve();
    const next = prev.then(() => this.store(ws, frame));
    this.queues.set(sessionId, next);
    void next.finally(() => {
      if (this.queues.get(sessionId) === next) this.queues.delete(sessionId);
    });
  }

  private async store(ws: Socket, frame: Extract<SandboxFrame, { kind: "report" }>): Promise<void> {
    const { sessionId } = ws.data;
    if (ws.data.broken) return;
    const last = this.lastSeq.get(sessionId);
    const seen = last && last.boot === frame.boot && frame.seq <= last.seq;
    try {
      if (!seen) {
        await this.opts.onReport(sessionId, ws.data.launchId, frame.report);
        this.lastSeq.set(sessionId, { boot: frame.boot, seq: frame.seq });
      }
      this.send(ws, { kind: "ack", boot: frame.boot, seq: frame.seq });
    } catch (err) {
      // Acks are cumulative, so nothing after this report may be acked either: close the
      // connection, and the sandbox resends everything from this report on, in order.
      ws.data.broken = true;
      ws.close(1011, "report not stored");
      this.opts.log.error("could not store sandbox report", { sessionId, type: frame.report.type, error: String(err) });
    }
  }

  private settle(frame: Extract<SandboxFrame, { kind: "response" }>): void {
    const pending = this.pending.get(frame.id);
    if (!pending) return;
    this.pending.delete(frame.id);
    clearTimeout(pending.timer);
    if (frame.ok) pending.resolve(frame.result);
    else pending.reject(new ChannelError(frame.error.code, frame.error.message));
  }

  private async renew(sessionId: string): Promise<void> {
    const ws = this.sockets.get(sessionId);
    if (!ws || !(await this.opts.admits(sessionId, ws.data.launchId))) return;
    this.send(ws, { kind: "token", token: await this.opts.tokens.sign(sessionId, ws.data.launchId) });
  }

  private async renewAll(): Promise<void> {
    await Promise.all([...this.sockets.keys()].map((id) => this.renew(id)));
  }

  private send(ws: Socket, frame: ApiFrame): void {
    ws.send(JSON.stringify(frame));
  }
}
