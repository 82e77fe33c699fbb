// A webhook receiver on loopback whose answer a test sets: it records what arrives and can
// answer any status, hang, or be closed and opened again on the same port.
import type { Server } from "bun";

export interface Received {
  id: string;
  headers: Record<string, string>;
  body: string;
  json: any;
  at: number;
}

export type Answer = number | "hang";

export class WebhookReceiver {
  readonly received: Received[] = [];
  /** Status to answer (or hang until the client gives up); may depend on the request. */
  answer: (r: Received) => Answer = () => 200;
  private server: Server<undefined> | null = null;
  port = 0;

  start(): this {
    this.server = Bun.serve({
      hostname: "127.0.0.1",
      port: this.port,
      fetch: async (req) => {
        const body = await req.text();
        const headers: Record<string, string> = {};
        req.headers.forEach((value, name) => (headers[name] = value));
        const r: Received = { id: headers["webhook-id"] ?? "", headers, body, json: JSON.parse(body), at: Date.now() };
        this.received.push(r);
        const answer = this.answer(r);
        if (answer === "hang") await Bun.sleep(60_000);
        return new Response(null, { status: answer === "hang" ? 200 : answer });
      },
    });
    this.port = this.server.port!;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Closes the port: deliveries meet a refused connection until start() again. */
  stop(): void {
    this.server?.stop(true);
    this.server = null;
  }

  /** What arrived for one session, duplicates (the same webhook-id again) left out. */
  of(sessionId: string): Received[] {
    const seen = new Set<string>();
    return this.received.filter((r) => r.json.sessionId === sessionId && !seen.has(r.id) && seen.add(r.id));
  }
}
