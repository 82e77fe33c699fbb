// The sandbox's end of the channel: one WebSocket to the API (TCP or unix socket), opened by
// the sandbox so the container needs no listening port. Reports are numbered and kept until
// the API acknowledges them, so a dropped channel (an API restart) loses none; the newest
// token the API sent is kept on the volume for the next connect.
//
// Both directions are checked against the shared frame schemas: what WhatsApp (and so anyone
// on it) put into a report is fitted to the bounds before it is sent, a report that still does
// not fit is dropped here rather than refused by the API, and frames from the API are checked
// like any input.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { writeFileAtomic } from "./auth-store";
import {
  clip,
  isChatReport,
  isContactReport,
  MAX_ERROR_MESSAGE_LENGTH,
  MAX_FRAME_BYTES,
  MAX_NAME_LENGTH,
  MAX_REASON_LENGTH,
  MAX_SYNC_BATCH,
  MAX_UNREAD_COUNT,
  readApiFrame,
  resultError,
  sandboxFrameError,
  type ChatReport,
  type ContactReport,
  type Report,
  type SandboxFrame,
  type SandboxRequest,
} from "../src/channel/frames";
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

/**
 * Bytes and reports sent and not yet acknowledged. The API stores a session's reports one at a
 * time, at a bounded rate, and cuts off a session with much more than this waiting (DEFAULT_INTAKE
 * in src/channel/intake.ts), so a large sync goes out as fast as it is stored, not all at once.
 */
export const SEND_WINDOW_BYTES = 8 * 1024 * 1024;
export const SEND_WINDOW_REPORTS = 1000;

interface Outgoing {
  seq: number;
  frame: string;
  bytes: number;
  sent: boolean;
}

const ERROR_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;

export class ChannelClient {
  readonly boot = randomUUID();
  private ws: WebSocket | null = null;
  private seq = 0;
  private unacked: Outgoing[] = [];
  private ackWaiters: { seq: number; resolve: (ok: boolean) => void }[] = [];
  private inFlight = 0;
  private inFlightReports = 0;
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

  /** The newest token the API gave (the channel's media paths take it too). */
  get currentToken(): string {
    return this.token;
  }

  get pending(): number {
    return this.unacked.length;
  }

  start(): void {
    this.connect();
  }

  report(report: Report): void {
    // Lists longer than one report may hold go as several (WhatsAppSession already splits them).
    const list = report.type === "contacts" ? report.contacts : report.type === "chats" ? report.chats : null;
    if (list && list.length > MAX_SYNC_BATCH) {
      for (let i = 0; i < list.length; i += MAX_SYNC_BATCH) {
        this.report(
          report.type === "contacts"
            ? { type: "contacts", contacts: report.contacts.slice(i, i + MAX_SYNC_BATCH) }
            : { type: "chats", chats: (report as Extract<Report, { type: "chats" }>).chats.slice(i, i + MAX_SYNC_BATCH) },
        );
      }
      return;
    }
    const fitted = fitReport(report, this.opts.log);
    const problem = sandboxFrameError({ kind: "report", seq: this.seq + 1, boot: this.boot, report: fitted });
    if (problem) {
      this.opts.log.warn("report not sent: it does not match the channel format", { type: report.type, reason: problem });
      return;
    }
    this.push(fitted);
  }

  /**
   * Resolves true once every report queued so far is acknowledged (the API stored them), false
   * after `timeoutMs`: without polling, for a request's answer that must follow its reports.
   */
  settled(timeoutMs: number): Promise<boolean> {
    if (this.unacked.length === 0) return Promise.resolve(true);
    const seq = this.seq;
    return new Promise((resolve) => {
      const waiter = { seq, resolve: (ok: boolean) => (clearTimeout(timer), resolve(ok)) };
      const timer = setTimeout(() => {
        this.ackWaiters = this.ackWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.ackWaiters.push(waiter);
    });
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

  /** Numbers a checked report and queues it; one too large for a frame goes as two halves. */
  private push(report: Report): void {
    const seq = this.seq + 1;
    const frame = JSON.stringify({ kind: "report", seq, boot: this.boot, report } satisfies SandboxFrame);
    const bytes = Buffer.byteLength(frame, "utf8");
    if (bytes > MAX_FRAME_BYTES) {
      const halves = halve(report);
      if (halves) halves.forEach((h) => this.push(h));
      else this.opts.log.warn("report not sent: larger than a channel frame", { type: report.type, bytes });
      return;
    }
    this.seq = seq;
    this.unacked.push({ seq, frame, bytes, sent: false });
    const max = this.opts.maxUnacked ?? 5000;
    if (this.unacked.length > max) {
      for (const dropped of this.unacked.splice(0, this.unacked.length - max)) {
        if (!dropped.sent) continue;
        this.inFlight -= dropped.bytes;
        this.inFlightReports--;
      }
    }
    this.pump();
  }

  /** Sends queued reports in order while the bytes awaiting an ack stay within the window. */
  private pump(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    for (const out of this.unacked) {
      if (out.sent) continue;
      if (this.inFlight > 0 && this.inFlight + out.bytes > SEND_WINDOW_BYTES) return;
      if (this.inFlightReports >= SEND_WINDOW_REPORTS) return;
      ws.send(out.frame);
      out.sent = true;
      this.inFlight += out.bytes;
      this.inFlightReports++;
    }
  }

  private connect(): void {
    if (this.closed) return;
    // Bun's WebSocket takes headers (and ws+unix:// URLs); the DOM typing knows neither.
    const ws = new WebSocket(this.opts.url, { headers: { authorization: `Bearer ${this.token}` } } as unknown as string[]);
    this.ws = ws;
    ws.onopen = () => {
      this.backoffMs = 250;
      this.opts.log.info("channel connected", { pending: this.unacked.length });
      // Everything not acknowledged goes again: the last connection may have lost it.
      for (const out of this.unacked) out.sent = false;
      this.inFlight = 0;
      this.inFlightReports = 0;
      this.pump();
    };
    ws.onmessage = (ev) => {
      try {
        this.onFrame(ws, ev.data);
      } catch (err) {
        this.opts.log.error("channel frame failed", { error: String(err) });
      }
    };
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

  private onFrame(ws: WebSocket, data: unknown): void {
    const checked = readApiFrame(data);
    if (!checked.ok) {
      this.opts.log.warn("channel frame refused", { reason: checked.reason });
      // A request we cannot read still gets an answer, so the API does not wait for its timeout.
      const v = checked.value as { kind?: unknown; id?: unknown } | undefined;
      if (v && typeof v === "object" && v.kind === "request" && typeof v.id === "string") {
        this.respond(ws, { kind: "response", id: v.id, ok: false, error: { code: "INVALID_REQUEST", message: checked.reason } });
      }
      return;
    }
    const { frame } = checked;
    if (frame.kind === "ack") {
      if (frame.boot !== this.boot) return;
      while (this.unacked.length > 0 && this.unacked[0]!.seq <= frame.seq) {
        const done = this.unacked.shift()!;
        if (done.sent) {
          this.inFlight -= done.bytes;
          this.inFlightReports--;
        }
      }
      if (this.ackWaiters.length > 0) {
        const done = this.ackWaiters.filter((w) => w.seq <= frame.seq);
        this.ackWaiters = this.ackWaiters.filter((w) => w.seq > frame.seq);
        for (const w of done) w.resolve(true);
      }
      this.pump();
    } else if (frame.kind === "token") {
      this.token = frame.token;
      if (this.opts.tokenFile) {
        writeFileAtomic(this.opts.tokenFile, frame.token).catch((err) => this.opts.log.warn("could not keep renewed token", { error: String(err) }));
      }
    } else {
      const { id, request } = frame;
      Promise.resolve()
        .then(() => this.opts.onRequest(request))
        .then(
          (result) => {
            const problem = resultError(request.type, result);
            if (!problem) return this.respond(ws, { kind: "response", id, ok: true, result });
            this.opts.log.warn("request answered with a malformed result", { type: request.type, reason: problem });
            this.respond(ws, { kind: "response", id, ok: false, error: { code: "INVALID_RESULT", message: clip(problem, MAX_ERROR_MESSAGE_LENGTH) } });
          },
          (err: unknown) => this.respond(ws, { kind: "response", id, ok: false, error: failure(err) }),
        )
        .catch((err) => this.opts.log.error("request handling failed", { type: request.type, error: String(err) }));
    }
  }

  private respond(ws: WebSocket, frame: SandboxFrame): void {
    const problem = sandboxFrameError(frame);
    if (problem) {
      this.opts.log.error("malformed response not sent", { reason: problem });
      return;
    }
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }
}

/** An error as the channel carries it: a short code and a bounded message. */
function failure(err: unknown): { code: string; message: string } {
  const code = (err as { code?: unknown } | null)?.code;
  return {
    code: typeof code === "string" && ERROR_CODE.test(code) ? code : "SANDBOX_REQUEST_FAILED",
    message: clip(err instanceof Error ? err.message : String(err), MAX_ERROR_MESSAGE_LENGTH),
  };
}

const optionalText = (s: string | null, max: number) => (s === null ? null : clip(s, max));
const count = (n: number | null, max: number) => (n === null || !Number.isFinite(n) ? null : Math.min(max, Math.max(0, Math.floor(n))));

/**
 * Fits a report to the channel's bounds: text others chose (names, reasons) is cut to length,
 * counts are clamped, and a contact or chat that still does not fit (a malformed id) is left out.
 */
export function fitReport(report: Report, log: SandboxLog): Report {
  switch (report.type) {
    case "ready":
      return { ...report, pushName: optionalText(report.pushName, MAX_NAME_LENGTH) };
    case "disconnected":
    case "logged_out":
    case "failed":
      return { ...report, reason: clip(report.reason, MAX_REASON_LENGTH) };
    case "contacts": {
      const contacts = report.contacts
        .map((c): ContactReport => ({
          ...c,
          name: optionalText(c.name, MAX_NAME_LENGTH),
          notify: optionalText(c.notify, MAX_NAME_LENGTH),
          verifiedName: optionalText(c.verifiedName, MAX_NAME_LENGTH),
        }))
        .filter(isContactReport);
      if (contacts.length < report.contacts.length) log.warn("contacts left out of a report", { count: report.contacts.length - contacts.length });
      return { type: "contacts", contacts };
    }
    case "chats": {
      const chats = report.chats
        .map((c): ChatReport => ({
          ...c,
          name: optionalText(c.name, MAX_NAME_LENGTH),
          unreadCount: count(c.unreadCount, MAX_UNREAD_COUNT),
          timestamp: count(c.timestamp, Number.MAX_SAFE_INTEGER),
        }))
        .filter(isChatReport);
      if (chats.length < report.chats.length) log.warn("chats left out of a report", { count: report.chats.length - chats.length });
      return { type: "chats", chats };
    }
    default:
      return report;
  }
}

function halve(report: Report): [Report, Report] | null {
  if (report.type === "contacts" && report.contacts.length > 1) {
    const mid = report.contacts.length >> 1;
    return [{ type: "contacts", contacts: report.contacts.slice(0, mid) }, { type: "contacts", contacts: report.contacts.slice(mid) }];
  }
  if (report.type === "chats" && report.chats.length > 1) {
    const mid = report.chats.length >> 1;
    return [{ type: "chats", chats: report.chats.slice(0, mid) }, { type: "chats", chats: report.chats.slice(mid) }];
  }
  return null;
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
