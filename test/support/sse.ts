// A Server-Sent Events reader for tests, over fetch() with the key in the X-API-Key header (as the
// dashboard reads GET /events): collects every event, waits for the ones a test expects, and
// says when the server ended the stream.

export interface SseEvent {
  event: string;
  data: any;
}

export interface SseStream {
  status: number;
  headers: Headers;
  events: SseEvent[];
  /** Comment lines seen (keep-alives). */
  comments: number;
  /** Resolves with the first event (already seen or still to come) that matches. */
  next(match: (e: SseEvent) => boolean, timeoutMs?: number, what?: string): Promise<SseEvent>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

export async function openSse(url: string, key: string | null): Promise<SseStream> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: key === null ? {} : { "x-api-key": key }, signal: controller.signal });
  const events: SseEvent[] = [];
  const waiters = new Set<{ match: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }>();
  const stream: SseStream = {
    status: res.status,
    headers: res.headers,
    events,
    comments: 0,
    async next(match, timeoutMs = 15_000, what = "an event") {
      const seen = events.find(match);
      if (seen) return seen;
      let waiter!: { match: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void };
      const found = new Promise<SseEvent>((resolve) => waiters.add((waiter = { match, resolve })));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(events.map((e) => e.event))}`)), timeoutMs);
      });
      try {
        return await Promise.race([found, timeout]);
      } finally {
        clearTimeout(timer);
        waiters.delete(waiter);
      }
    },
    ended: Promise.resolve(),
    close: () => controller.abort(),
  };
  if (!res.ok || !res.body) {
    await res.text();
    return stream;
  }
  stream.ended = (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    let name = "message";
    let data: string[] = [];
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let at: number;
        while ((at = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, at);
          buffer = buffer.slice(at + 1);
          if (line === "") {
            if (data.length) {
              const event = { event: name, data: JSON.parse(data.join("\n")) };
              events.push(event);
              for (const w of [...waiters]) if (w.match(event)) w.resolve(event);
            }
            name = "message";
            data = [];
          } else if (line.startsWith(":")) stream.comments++;
          else if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return stream;
}
