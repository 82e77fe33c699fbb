// A real ChannelHub served by Bun (TCP on 127.0.0.1 or a unix socket) and a raw WebSocket that
// holds a real token but sends whatever a test tells it to: the hostile sandbox.
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunningServer } from "../../src/platform/serve";
import { serve as serveOnBun } from "../../src/platform/serve-bun";
import { ChannelHub, type ChannelHubOptions, type ChannelSocketData } from "../../src/channel/hub";
import type { ReportSink } from "../../src/channel/report-sink";
import { ChannelTokens } from "../../src/channel/tokens";
import type { Logger, LogFields } from "../../src/log";

export const quiet = { info() {}, warn() {}, error() {} };

import { waitFor } from "./env";

export { waitFor };

export interface LogRecord {
  level: string;
  msg: string;
  fields: LogFields;
}

/** A logger that keeps what it is told, to check what the hub logs about a refusal. */
export function recordingLogger(records: LogRecord[] = []): Logger & { records: LogRecord[] } {
  const at = (level: string) => (msg: string, fields: LogFields = {}) => void records.push({ level, msg, fields });
  const log: Logger & { records: LogRecord[] } = {
    records,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: () => log,
    enabled: () => true,
  };
  return log;
}

export interface TestHub {
  hub: ChannelHub;
  tokens: ChannelTokens;
  /** The launch each session is on, as the domain would answer `admits`. */
  launches: Map<string, string>;
  /** A session on a fresh launch, and a token for it. */
  session(): Promise<{ id: string; launchId: string; token: string }>;
  url(sessionId: string): string;
  server: RunningServer;
  close(): void;
}

/** The domain's end of a test hub: `onReport` stores, `admits` defaults to the launches handed out. */
export type TestSink = Pick<ReportSink, "connected"> & { onReport: ReportSink["apply"]; admits?: ReportSink["admits"] };

export function serveHub(opts: Partial<Omit<ChannelHubOptions, "sink">> & TestSink, where: "tcp" | "unix" = "tcp"): TestHub {
  const tokens = opts.tokens ?? new ChannelTokens(randomUUID() + randomUUID());
  const launches = new Map<string, string>();
  const { onReport, admits, connected, ...rest } = opts;
  const hub = new ChannelHub({
    log: quiet as unknown as Logger,
    ...rest,
    tokens,
    sink: { apply: onReport, admits: admits ?? (async (sessionId, launchId) => launches.get(sessionId) === launchId), connected },
  });
  const socketPath = join(mkdtempSync(join(tmpdir(), "chan-")), "c.sock");
  const server = serveOnBun<ChannelSocketData>({
    listen: where === "tcp" ? { port: 0, hostname: "127.0.0.1" } : { unix: socketPath },
    fetch: hub.handler(() => new Response("no", { status: 404 })),
    websocket: hub.websocket,
  });
  return {
    hub,
    tokens,
    launches,
    server,
    async session() {
      const id = randomUUID();
      const launchId = randomUUID();
      launches.set(id, launchId);
      return { id, launchId, token: await tokens.sign(id, launchId) };
    },
    url: (id) => (where === "tcp" ? `ws://127.0.0.1:${server.port}/channel/${id}` : `ws+unix://${socketPath}:/channel/${id}`),
    close() {
      hub.close();
      server.stop(true);
    },
  };
}

/** A WebSocket that sends what it is told and keeps what it receives. */
export interface RawSandbox {
  ws: WebSocket;
  received: any[];
  closed: { code: number; reason: string } | null;
  send(frame: unknown): void;
  /** Waits for the next request frame from the API. */
  nextRequest(ms?: number): Promise<{ id: string; request: any }>;
}

export async function rawSandbox(url: string, token: string): Promise<RawSandbox> {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } } as unknown as string[]);
  const raw: RawSandbox = {
    ws,
    received: [],
    closed: null,
    send: (frame) => ws.send(typeof frame === "string" ? frame : JSON.stringify(frame)),
    async nextRequest(ms = 5000) {
      const seen = raw.received.length;
      let found: any;
      await waitFor(() => (found = raw.received.slice(seen).find((f) => f.kind === "request")) !== undefined, ms, "a request");
      return found;
    },
  };
  ws.onmessage = (ev) => raw.received.push(JSON.parse(String(ev.data)));
  ws.onclose = (ev) => (raw.closed = { code: ev.code, reason: ev.reason });
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("raw sandbox could not connect"));
  });
  return raw;
}
