// The engine's event stream (JSON lines), filtered server-side, followed until aborted.
import type { PodmanClient } from "./client";

export interface PodmanEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  status?: string;
  time?: number;
  timeNano?: number;
}

export interface EventOptions {
  filters?: Record<string, string[]>;
  /** Only events after this time (unix seconds), so a reconnect does not miss any. */
  since?: number;
  signal: AbortSignal;
  onEvent: (event: PodmanEvent) => void;
  /** Called once the engine accepted the stream. */
  onOpen?: () => void;
}

/** Resolves when the stream ends (engine restart, abort); the caller decides whether to follow again. */
export async function followEvents(client: PodmanClient, opts: EventOptions): Promise<void> {
  const res = await client.fetch("GET", "/events", {
    query: { stream: true, filters: opts.filters, since: opts.since !== undefined ? String(opts.since) : undefined },
    signal: opts.signal,
  });
  opts.onOpen?.();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line) opts.onEvent(JSON.parse(line) as PodmanEvent);
      }
    }
  } catch (err) {
    if ((err as Error).name !== "AbortError" && !opts.signal.aborted) throw err;
  }
}
