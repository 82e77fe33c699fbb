// The API's end of the channel: sandboxes connect over WebSocket (TCP or a unix socket), prove
// who they are with a JWT naming their session and launch, and send numbered reports that are
// acknowledged only once stored. The API sends requests over the same connection and renews the
// token before it expires, as long as the launch is still admitted.
//
// A sandbox faces the internet, so everything it sends is checked against the frame schemas
// before it moves anything, and nothing it sends can throw out of a handler (an exception in a
// WebSocket handler takes the whole API process down, on Bun and on Deno).
//
// The hub is written against src/platform/serve.ts's runtime-neutral server and socket
// interfaces, so Bun.serve and Deno.serve drive it alike.
import { randomUUID } from "node:crypto";
import type { RequestContext, ServerSocket, SocketHandler } from "../platform/serve";
import type { Logger } from "../log";
import { ChannelError, SandboxProtocolError, SandboxTimeout, SandboxUnavailable, type SandboxLink } from "./link";
import {
  apiFrameError,
  CHANNEL_PATH,
  MAX_FRAME_BYTES,
  readSandboxFrame,
  resultError,
  type ApiFrame,
  type Report,
  type SandboxFrame,
  type SandboxRequest,
  type SandboxResponse,
} from "./frames";
import { ReportIntake, type IntakeLimits } from "./intake";
import { mediaPathId, transferMedia } from "./media-transfer";
import { AUTH_STATE_PATH, sendAuthState } from "./auth-state-transfer";
import type { ReportSink } from "./report-sink";
import { TOKEN_TTL_SECONDS, type ChannelTokens } from "./tokens";

export { ChannelError, MAX_FRAME_BYTES };

export interface ChannelSocketData {
  sessionId: string;
  /** The container launch the connection's token names. */
  launchId: string;
  /**
   * Set when a report could not be stored, and when the connection was replaced, cut off or
   * closed: its reports still waiting are dropped (the sandbox resends what was not acked).
   */
  broken?: boolean;
}

type Socket = ServerSocket<ChannelSocketData>;
type ReportFrame = Extract<SandboxFrame, { kind: "report" }>;
type ResponseFrame = Extract<SandboxFrame, { kind: "response" }>;

interface Pending {
  sessionId: string;
  ws: Socket;
  /** What was asked, so the answer is checked against that request's result schema. */
  type: SandboxRequest["type"];
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export interface ChannelHubOptions {
  tokens: ChannelTokens;
  log: Logger;
  /** The domain's end; or given later through `attach` (the domain needs the hub as its link first). */
  sink?: ReportSink;
  renewEveryMs?: number;
  /** Bounds on the reports waiting and the rate they are stored at (DEFAULT_INTAKE in intake.ts). */
  intake?: Partial<IntakeLimits>;
}

const refusal = (status: number, error: string, code: string) => Response.json({ success: false, error, code }, { status });

export class ChannelHub implements SandboxLink {
  private readonly sockets = new Map<string, Socket>();
  /** Callers waiting for a session's sandbox to (re)connect, e.g. right after an API restart. */
  private readonly waiters = new Map<string, Set<(ok: boolean) => void>>();
  private readonly pending = new Map<string, Pending>();
  /** Highest stored sequence number per session and sandbox boot, so resent reports apply once. */
  private readonly lastSeq = new Map<string, { boot: string; seq: number }>();
  /** Reports of one session are stored in order, one at a time. */
  private readonly queues = new Map<string, Promise<void>>();
  private readonly renewTimer: ReturnType<typeof setInterval>;
  readonly intake: ReportIntake;
  private sink: ReportSink | undefined;

  constructor(private readonly opts: ChannelHubOptions) {
    this.intake = new ReportIntake(opts.intake);
    this.sink = opts.sink;
    this.renewTimer = setInterval(() => void this.renewAll(), opts.renewEveryMs ?? (TOKEN_TTL_SECONDS * 1000) / 3);
    this.renewTimer.unref?.();
  }

  /** Where reports go from now on; until then no sandbox is admitted. */
  attach(sink: ReportSink): void {
    this.sink = sink;
  }

  /** A `fetch` handler for src/platform/serve.ts serving the channel, and `fallback` for every other request. */
  handler(fallback: (req: Request, ctx: RequestContext<ChannelSocketData>) => Response | Promise<Response>) {
    return async (req: Request, ctx: RequestContext<ChannelSocketData>): Promise<Response | undefined> => {
      let result: Awaited<ReturnType<ChannelHub["upgrade"]>>;
      try {
        result = await this.upgrade(req, ctx);
      } catch (err) {
        this.opts.log.error("channel upgrade failed", { error: err });
        return refusal(500, "Channel error", "INTERNAL_ERROR");
      }
      if (result === "upgraded") return undefined;
      return result === "not-channel" ? fallback(req, ctx) : result;
    };
  }

  /**
   * Handles `GET /channel/<sessionId>`: "upgraded" when the socket is now a channel (the server
   * must then answer nothing), a refusal Response, or "not-channel" for any other path; and a
   * media file's transfer on `/channel/<sessionId>/media/<messageId>` (media-transfer.ts), and the
   * session's mirrored auth state on `/channel/<sessionId>/auth-state` (auth-state-transfer.ts).
   */
  async upgrade(req: Request, ctx: RequestContext<ChannelSocketData>): Promise<Response | "upgraded" | "not-channel"> {
    const url = new URL(req.url);
    if (!url.pathname.startsWith(CHANNEL_PATH + "/")) return "not-channel";
    // `/channel/<session>` is the WebSocket; `/channel/<session>/media/<message>` a file's bytes.
    const rest = url.pathname.slice(CHANNEL_PATH.length + 1);
    const slash = rest.indexOf("/");
    const authState = slash >= 0 && rest.slice(slash) === AUTH_STATE_PATH;
    const messageId = slash < 0 || authState ? null : mediaPathId(rest.slice(slash));
    if (slash >= 0 && messageId === null && !authState) return refusal(404, "Not found", "NOT_FOUND");
    let sessionId: string;
    try {
      sessionId = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
    } catch {
      return refusal(401, "Invalid channel token", "INVALID_CHANNEL_TOKEN");
    }
    const auth = req.headers.get("authorization") ?? "";
    const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
    const claims = token ? await this.opts.tokens.verify(token, sessionId) : null;
    if (!claims) {
      this.opts.log.warn("channel connection refused", { sessionId: sessionId.slice(0, 64), reason: token ? "invalid token" : "no token" });
      return refusal(401, "Invalid channel token", "INVALID_CHANNEL_TOKEN");
    }
    // A session cut off for sending too much waits before it may send again.
    const refusedMs = this.intake.refusedFor(claims.sessionId);
    if (refusedMs > 0) {
      this.opts.log.warn("channel connection refused", { sessionId, reason: "cut off for too many reports waiting", retryAfterMs: refusedMs });
      return Response.json(
        { success: false, error: "Too many reports waiting: connect again later", code: "CHANNEL_THROTTLED" },
        { status: 429, headers: { "retry-after": String(Math.ceil(refusedMs / 1000)) } },
      );
    }
    let admitted: boolean;
    try {
      admitted = (await this.sink?.admits(claims.sessionId, claims.launchId)) ?? false;
    } catch (err) {
      this.opts.log.error("channel admission check failed", { sessionId, error: err });
      return refusal(503, "Channel unavailable", "CHANNEL_UNAVAILABLE");
    }
    if (!admitted) {
      this.opts.log.warn("channel connection refused", { sessionId, launchId: claims.launchId, reason: "launch not admitted" });
      return refusal(403, "This sandbox launch is not admitted to the channel", "CHANNEL_NOT_ADMITTED");
    }
    if (messageId !== null) return transferMedia(req, claims, messageId, this.sink, this.opts.log);
    if (authState) return sendAuthState(req, claims, this.sink);
    const data: ChannelSocketData = { sessionId: claims.sessionId, launchId: claims.launchId };
    if (ctx.upgrade(data)) return "upgraded";
    return refusal(426, "Expected a WebSocket upgrade", "UPGRADE_REQUIRED");
  }

  readonly websocket: SocketHandler<ChannelSocketData> = {
    // A larger frame closes the connection (code 1009) before it reaches `message`.
    maxPayloadLength: MAX_FRAME_BYTES,
    open: (ws) => {
      try {
        const { sessionId } = ws.data;
        const previous = this.sockets.get(sessionId);
        this.sockets.set(sessionId, ws);
        // A sandbox has one connection: a newer one replaces an older (half-dead) one, and the
        // older one's waiting reports are dropped (they come again on the new one).
        if (previous && previous !== ws) {
          previous.data.broken = true;
          previous.close(4000, "replaced by a newer connection");
        }
        this.opts.log.info("sandbox connected to channel", { sessionId });
        for (const wake of [...(this.waiters.get(sessionId) ?? [])]) wake(true);
        void this.renew(sessionId);
        this.sink?.connected?.(sessionId);
      } catch (err) {
        this.opts.log.error("channel open failed", { sessionId: ws.data.sessionId, error: err });
      }
    },
    message: (ws, data) => {
      // A connection cut off, replaced or failed may still deliver what it had buffered:
      // dropped unread, so a flood costs no parsing after the cut.
      if (ws.data.broken) return;
      try {
        this.receive(ws, data);
      } catch (err) {
        this.opts.log.error("channel frame failed", { sessionId: ws.data.sessionId, error: err });
      }
    },
    close: (ws, code) => {
      try {
        const { sessionId } = ws.data;
        // Its waiting reports go unacked; the sandbox sends them again when it is back.
        ws.data.broken = true;
        if (this.sockets.get(sessionId) === ws) {
          this.sockets.delete(sessionId);
          this.opts.log.info("sandbox left channel", { sessionId, code });
        }
        // Requests sent on this connection can no longer be answered.
        for (const [id, p] of this.pending) {
          if (p.ws === ws) this.take(ws, id)?.reject(new SandboxUnavailable(`sandbox of ${sessionId} left the channel before answering ${p.type}`));
        }
      } catch (err) {
        this.opts.log.error("channel close failed", { sessionId: ws.data.sessionId, error: err });
      }
    },
  };

  isConnected(sessionId: string): boolean {
    return this.sockets.has(sessionId);
  }

  waitForConnection(sessionId: string, timeoutMs: number): Promise<boolean> {
    if (this.sockets.has(sessionId) || timeoutMs <= 0) return Promise.resolve(this.sockets.has(sessionId));
    return new Promise((resolve) => {
      const waiters = this.waiters.get(sessionId) ?? new Set<(ok: boolean) => void>();
      this.waiters.set(sessionId, waiters);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.waiters.get(sessionId) === waiters) this.waiters.delete(sessionId);
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      waiters.add(done);
    });
  }

  /** How many sandboxes are connected now (metrics). */
  get connectedCount(): number {
    return this.sockets.size;
  }

  request<R extends SandboxRequest>(sessionId: string, req: R, timeoutMs: number): Promise<SandboxResponse<R>> {
    const ws = this.sockets.get(sessionId);
    if (!ws) return Promise.reject(new SandboxUnavailable(`sandbox of ${sessionId} is not connected`));
    const id = randomUUID();
    const frame: ApiFrame = { kind: "request", id, request: req };
    const problem = apiFrameError(frame);
    if (problem) {
      this.opts.log.error("malformed request not sent to sandbox", { sessionId, reason: problem });
      return Promise.reject(new ChannelError("INVALID_REQUEST", `request not sent: ${problem}`));
    }
    return new Promise<SandboxResponse<R>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SandboxTimeout(`sandbox of ${sessionId} did not answer ${req.type} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { sessionId, ws, type: req.type, resolve: resolve as (v: unknown) => void, reject, timer });
      if (!this.send(ws, frame)) this.take(ws, id)?.reject(new SandboxUnavailable(`sandbox of ${sessionId} is not connected`));
    });
  }

  disconnect(sessionId: string): void {
    // The launch is over (stopped, deleted, died): its boot's sequence numbers will not come again.
    this.lastSeq.delete(sessionId);
    this.intake.forget(sessionId);
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

  private receive(ws: Socket, data: string | Uint8Array): void {
    const { sessionId } = ws.data;
    const checked = readSandboxFrame(data);
    if (!checked.ok) {
      this.opts.log.warn("channel frame refused", { sessionId, reason: checked.reason });
      // A malformed answer to a pending request fails that request now, not at its timeout.
      const v = checked.value as { kind?: unknown; id?: unknown } | undefined;
      if (v && typeof v === "object" && v.kind === "response" && typeof v.id === "string") {
        const pending = this.take(ws, v.id);
        pending?.reject(new SandboxProtocolError(`sandbox of ${sessionId} answered ${pending.type} with a malformed frame (${checked.reason})`));
      }
      return;
    }
    const { frame } = checked;
    if (frame.kind === "report") this.enqueue(ws, frame, data.length);
    else this.settle(ws, frame);
  }

  private enqueue(ws: Socket, frame: ReportFrame, size: number): void {
    const { sessionId } = ws.data;
    if (ws.data.broken) return;
    const refused = this.intake.take(sessionId, size);
    if (refused) {
      // A sandbox sending faster than its reports are stored would hold the API's memory.
      ws.data.broken = true;
      ws.close(1008, "too many reports waiting to be stored");
      this.opts.log.warn("channel closed: too many reports waiting", { sessionId, bound: refused, waiting: this.intake.waitingOf(sessionId) });
      return;
    }
    const prev = this.queues.get(sessionId) ?? Promise.resolve();
    const next = prev
      .then(() => (ws.data.broken ? undefined : this.intake.store(sessionId, () => this.store(ws, frame))))
      .catch((err) => this.opts.log.error("report queue failed", { sessionId, error: err }))
      .finally(() => {
        this.intake.release(sessionId, size);
        if (this.queues.get(sessionId) === next) this.queues.delete(sessionId);
      });
    this.queues.set(sessionId, next);
  }

  private async store(ws: Socket, frame: ReportFrame): Promise<void> {
    const { sessionId } = ws.data;
    if (ws.data.broken) return;
    const last = this.lastSeq.get(sessionId);
    const seen = last && last.boot === frame.boot && frame.seq <= last.seq;
    try {
      if (!seen) {
        if (!this.sink) throw new Error("no report sink attached");
        await this.sink.apply(sessionId, ws.data.launchId, frame.report);
        this.lastSeq.set(sessionId, { boot: frame.boot, seq: frame.seq });
      }
      this.send(ws, { kind: "ack", boot: frame.boot, seq: frame.seq });
    } catch (err) {
      // Acks are cumulative, so nothing after this report may be acked either: close the
      // connection, and the sandbox resends everything from this report on, in order.
      ws.data.broken = true;
      ws.close(1011, "report not stored");
      this.opts.log.error("could not store sandbox report", { sessionId, type: frame.report.type, error: err });
    }
  }

  private settle(ws: Socket, frame: ResponseFrame): void {
    const { sessionId } = ws.data;
    const pending = this.take(ws, frame.id);
    if (!pending) {
      this.opts.log.warn("channel frame refused", { sessionId, reason: "response to no pending request" });
      return;
    }
    if (!frame.ok) {
      pending.reject(new ChannelError(frame.error.code, frame.error.message));
      return;
    }
    const problem = resultError(pending.type, frame.result);
    if (problem) {
      this.opts.log.warn("channel frame refused", { sessionId, reason: `${pending.type} result: ${problem}` });
      pending.reject(new SandboxProtocolError(`sandbox of ${sessionId} answered ${pending.type} with a malformed result (${problem})`));
    } else {
      pending.resolve(frame.result);
    }
  }

  /** The pending request `id`, if this connection's session asked it; removed from the table. */
  private take(ws: Socket, id: string): Pending | undefined {
    const pending = this.pending.get(id);
    // Another session's sandbox cannot settle (or fail) this session's requests.
    if (!pending || pending.sessionId !== ws.data.sessionId) return undefined;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    return pending;
  }

  /** Sends a fresh token for the connection's launch, or closes it once that launch is no longer admitted. */
  private async renew(sessionId: string): Promise<void> {
    const ws = this.sockets.get(sessionId);
    if (!ws) return;
    const { launchId } = ws.data;
    try {
      const admitted = (await this.sink?.admits(sessionId, launchId)) ?? false;
      if (this.sockets.get(sessionId) !== ws) return;
      if (!admitted) {
        this.opts.log.warn("channel closed: launch no longer admitted", { sessionId, launchId });
        this.sockets.delete(sessionId);
        ws.close(4003, "launch not admitted");
        return;
      }
      this.send(ws, { kind: "token", token: await this.opts.tokens.sign(sessionId, launchId) });
    } catch (err) {
      // The current token stays valid for a while; the next renewal tries again.
      this.opts.log.warn("channel token not renewed", { sessionId, error: err });
    }
  }

  private async renewAll(): Promise<void> {
    await Promise.all([...this.sockets.keys()].map((id) => this.renew(id)));
  }

  /** Sends a checked frame; false when it was not sent (malformed, or the connection is gone). */
  private send(ws: Socket, frame: ApiFrame): boolean {
    const problem = apiFrameError(frame);
    if (problem) {
      this.opts.log.error("malformed frame not sent to sandbox", { sessionId: ws.data.sessionId, kind: frame.kind, reason: problem });
      return false;
    }
    try {
      return ws.send(JSON.stringify(frame));
    } catch (err) {
      this.opts.log.warn("channel send failed", { sessionId: ws.data.sessionId, error: err });
      return false;
    }
  }
}
