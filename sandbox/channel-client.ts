// The sandbox's end of the channel: one WebSocket to the API (TCP or unix socket), opened by
// the sandbox so the container needs no listening port. Reports are numbered and kept until
// the API acknowledges them, so a dropped channel (an API restart) loses none; the newest
// token the API sent is kept on the volume for the next connect.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { writeFileAtomic } from "./auth-store";
import { parseFrame, type ApiFrame, type Report, type SandboxFrame, type SandboxRequest } from "../src/channel/frames";
import type { SandboxLog } from "./log";

export type RequestHandler = (req: SandboxRequest) => Promise<unknown>;

export interface ChannelClientOptions {
  url: string;
  token: string;
  /** Where a renewed token is kept across container restarts. */
  tokenFile?: string;
  log: SandboxLog;
  onRequest: RequestHandler;
  /** Most reports kept while the API is away; the oldest go first past this. */
  maxUnacked?: number;
}

interface Outgoing {
  seq: number;
  frame: string;
}

export class ChannelClient {
  readonly boot = randomUUID();
  private ws: WebSocket | null = null;
  private seq = 0;
  private unacked: Outgoing[] = [];
  private token: string;
  private closed = false;
  private backoffMs = 250;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly opts: ChannelClientOptions) {
    this.token = newestToken(opts.token, opts.tokenFile);
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  get pending(): number {
    return this.unacked.length;
  }

  start(): void {
    this.connect();
  }

  report(report: Report): void {
    const seq = ++this.seq;
    const frame: SandboxFrame = { kind: "report", seq, boot: this.boot, report };
    const out = { seq, frame: JSON.stringify(frame) };
    this.unacked.push(out);
    const max = this.opts.maxUnacked ?? 5000;
    if (this.unacked.length > max) this.unacked.splice(0, this.unacked.length - max);
    if (this.connected) this.ws!.send(out.frame);
  }

  /**
   * Resolves once every report so far is acknowledged, after `timeoutMs`, or at once when the
   * channel is down (the API closed it on purpose, e.g. to stop the session).
   */
  async flush(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (this.unacked.length > 0 && this.connected && Date.now() < end) await Bun.sleep(20);
    return this.unacked.length === 0;
  }

  close(): void {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.ws?.close(1000, "sandbox exiting");
  }

  private connect(): void {
    if (this.closed) return;
    // Bun's WebSocket takes headers (and ws+unix:// URLs); the DOM typing knows neither.
    const ws = new WebSocket(this.opts.url, { headers: { authorization: `Bearer ${this.token}` } } as unknown as string[]);
    this.ws = ws;
    ws.onopen = () => {
      this.backoffMs = 250;
      this.opts.log.info("channel connected", { pending: this.unacked.length });
      for (const out of this.unacked) ws.send(out.frame);
    };
    ws.onmessage = (ev) => this.onFrame(ws, ev.data as string);
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.closed) return;
      this.opts.log.warn("channel closed; reconnecting", { code: ev.code, inMs: this.backoffMs });
      this.reconnectTimer = setTimeout(() => this.connect(), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 5000);
    };
    ws.onerror = () => {
      // onclose follows and schedules the retry.
    };
  }

  private onFrame(ws: WebSocket, data: string): void {
    const frame = parseFrame<ApiFrame>(data);
    if (!frame) return;
    if (frame.kind === "ack") {
      if (frame.boot === this.boot) this.unacked = this.unacked.filter((o) => o.seq > frame.seq);
    } else if (frame.kind === "token") {
      this.token = frame.token;
      if (this.opts.tokenFile) {
        writeFileAtomic(this.opts.tokenFile, frame.token).catch((err) => this.opts.log.warn("could not keep renewed token", { error: String(err) }));
      }
    } else if (frame.kind === "request") {
      const { id, request } = frame;
      this.opts
        .onRequest(request)
        .then((result) => send(ws, { kind: "response", id, ok: true, result }))
        .catch((err: unknown) =>
          send(ws, {
            kind: "response",
            id,
            ok: false,
            error: { code: (err as { code?: string }).code ?? "SANDBOX_REQUEST_FAILED", message: err instanceof Error ? err.message : String(err) },
          }),
        );
    }
  }
}

function send(ws: WebSocket, frame: SandboxFrame): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
}

/** The later-expiring of the token in the environment and the one kept on the volume. */
function newestToken(envToken: string, file?: string): string {
  if (!file) return envToken;
  let kept: string;
  try {
    kept = readFileSync(file, "utf8").trim();
  } catch {
    return envToken;
  }
  return expiry(kept) > expiry(envToken) ? kept : envToken;
}

function expiry(token: string): number {
  try {
    return Number(JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()).exp) || 0;
  } catch {
    return 0;
  }
}
