// GET /events: the caller's session events as Server-Sent Events, live (the dashboard reads it).
// The key goes in the X-API-Key header like on every other route (browsers read the stream with
// fetch(), since EventSource cannot send headers and a key never goes in a URL). The admin key
// hears every session; a session key only its own, and its stream ends when the session is
// deleted. Streams are bounded: per key, in all, and in what a slow reader may leave unread;
// one whose client went away is dropped at once (abort or cancel) or at the next heartbeat.
// Web standards only (ReadableStream, TextEncoder): no runtime-specific server API.
import { Elysia } from "elysia";
import { hashKey } from "../auth/keys";
import type { Callers } from "../auth/callers";
import type { SessionEvent, SessionEventBus } from "../sessions/event-bus";
import { ApiError, errors } from "./errors";
import { ErrorResponse } from "./sessions/models";

export interface EventStreamOptions {
  bus: SessionEventBus;
  callers: Callers;
  /** Open streams one key may hold (several tabs of the dashboard). */
  maxPerKey?: number;
  /** Open streams in all. */
  maxTotal?: number;
  /** Comment lines that keep idle connections (and proxies) open and find dead clients. */
  heartbeatMs?: number;
  /** Events a reader may leave unread before its stream is closed (it reconnects and reloads). */
  maxQueued?: number;
}

export const EVENT_STREAM_LIMITS = { maxPerKey: 10, maxTotal: 1000, heartbeatMs: 15_000, maxQueued: 500 } as const;

const STREAM_DESCRIPTION = [
  "Server-Sent Events (`text/event-stream`) of the sessions this key reaches: the admin key every session, a session key its own.",
  "Read it with a client that can send the `X-API-Key` header (fetch() in browsers, `curl -N`): the key never goes in the URL.",
  "",
  "The first event is `ready` with `{\"scope\":\"admin\"}` or `{\"scope\":\"session\",\"sessionId\":\"…\"}`.",
  "Then each event's `data` is one JSON object `{event, sessionId, sessionName, timestamp, data}`, named like the webhooks:",
  "`session.state` (`state`, `previousState`, `reason`, `phoneNumber`, `lastActivity`), `session.qr` (each new `qr`),",
  "`session.contacts` and `session.chats` (`count` of the batch just synced), `session.activity` (`lastActivity`) and `session.deleted`.",
  "A comment line (`: keep-alive`) comes every 15 s. Nothing is replayed: after a reconnect, read the current state from the REST routes",
  "(past state changes: `GET /sessions/{id}/events`). A session key's stream ends when its session is deleted.",
  `At most ${EVENT_STREAM_LIMITS.maxPerKey} open streams per key (429 TOO_MANY_STREAMS); a reader that leaves ${EVENT_STREAM_LIMITS.maxQueued} events unread is disconnected.`,
].join("\n");

const errorContent = (description: string) => ({ description, content: { "application/json": { schema: ErrorResponse } } });

const streamHeaders = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-store",
  // Proxies such as nginx would otherwise buffer the stream.
  "x-accel-buffering": "no",
};

export class EventStreams {
  private readonly perKey = new Map<string, number>();
  private readonly open = new Set<() => void>();
  private readonly limits: Required<Omit<EventStreamOptions, "bus" | "callers">>;

  constructor(private readonly opts: EventStreamOptions) {
    this.limits = { ...EVENT_STREAM_LIMITS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => typeof v === "number")) };
  }

  /** Ends every stream (the API is stopping: a stream must not hold its shutdown). */
  closeAll(): void {
    for (const close of [...this.open]) close();
  }

  routes() {
    return new Elysia({ name: "event-stream" }).get("/events", ({ request }) => this.connect(request), {
      detail: {
        summary: "Stream session events",
        description: STREAM_DESCRIPTION,
        tags: ["Sessions"],
        security: [{ apiKey: [] }],
        responses: {
          200: {
            description: "An endless text/event-stream",
            content: {
              "text/event-stream": {
                schema: { type: "string" },
                example:
                  'event: ready\ndata: {"scope":"session","sessionId":"e67a00be-ed45-4356-9488-049cabb9895d"}\n\nevent: session.state\ndata: {"event":"session.state","sessionId":"e67a00be-ed45-4356-9488-049cabb9895d","sessionName":"my-session","timestamp":"2026-01-28T10:00:00.000Z","data":{"state":"qr_ready","previousState":"starting","reason":null,"phoneNumber":null,"lastActivity":"2026-01-28T10:00:00.000Z"}}\n\n',
              },
            },
          },
          401: errorContent("No API key (MISSING_API_KEY) or an unknown one (INVALID_API_KEY)"),
          429: errorContent("This key has too many streams open (TOO_MANY_STREAMS)"),
          503: errorContent("The server has too many streams open (TOO_MANY_STREAMS), or DATABASE_UNAVAILABLE"),
        },
      },
    });
  }

  private async connect(request: Request): Promise<Response> {
    const key = request.headers.get("x-api-key");
    if (!key) throw errors.missingKey();
    const caller = await this.opts.callers.identify(key);
    if (!caller || caller.kind === "anonymous") throw errors.invalidKey();
    const bucket = hashKey(key);
    if ((this.perKey.get(bucket) ?? 0) >= this.limits.maxPerKey) {
      throw new ApiError(429, "TOO_MANY_STREAMS", `At most ${this.limits.maxPerKey} event streams may be open per key`);
    }
    if (this.open.size >= this.limits.maxTotal) throw new ApiError(503, "TOO_MANY_STREAMS", "Too many event streams are open; try again later");
    const sessionId = caller.kind === "session" ? caller.session.id : null;
    // HEAD answers as GET would, without the stream: Elysia reads a HEAD's body to its end.
    if (request.method === "HEAD") return new Response(null, { headers: streamHeaders });

    const encoder = new TextEncoder();
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      clearInterval(heartbeat);
      request.signal.removeEventListener("abort", close);
      this.open.delete(close);
      const left = (this.perKey.get(bucket) ?? 1) - 1;
      if (left > 0) this.perKey.set(bucket, left);
      else this.perKey.delete(bucket);
      try {
        controller.close();
      } catch {
        // already closed or cancelled by the client
      }
    };
    const send = (text: string) => {
      if (closed) return;
      // A reader that stopped reading: its queue grows until it is let go.
      if ((controller.desiredSize ?? 0) < -this.limits.maxQueued) return close();
      try {
        controller.enqueue(encoder.encode(text));
      } catch {
        close();
      }
    };
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          controller = c;
        },
        cancel: () => close(),
      },
      // Counted in chunks (one an event): desiredSize goes negative by the events left unread.
      { highWaterMark: 0 },
    );

    this.perKey.set(bucket, (this.perKey.get(bucket) ?? 0) + 1);
    this.open.add(close);
    const unsubscribe = this.opts.bus.subscribe(sessionId, (event: SessionEvent) => {
      send(`event: ${event.event}\ndata: ${JSON.stringify(event)}\n\n`);
      if (sessionId !== null && event.event === "session.deleted") close();
    });
    const heartbeat = setInterval(() => send(": keep-alive\n\n"), this.limits.heartbeatMs);
    request.signal.addEventListener("abort", close);
    send(`event: ready\ndata: ${JSON.stringify(sessionId === null ? { scope: "admin" } : { scope: "session", sessionId })}\n\n`);

    return new Response(stream, { headers: streamHeaders });
  }
}
