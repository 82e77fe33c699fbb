// Webhooks: a JSON POST to the session's webhookUrl for each state change and sync, signed with
// HMAC-SHA256 so receivers can check it came from us. The key is WEBHOOK_SECRET when set, else
// the SHA-256 hex of the session's API key (the receiver, who holds the key, can compute it;
// we only ever stored the hash). Delivery is best effort with a few retries, never blocking.
import { createHmac } from "node:crypto";
import type { SessionRow } from "../db/schema";
import type { Logger } from "../log";

export const SIGNATURE_HEADER = "x-webhook-signature";

export interface WebhookOptions {
  secret: string | undefined;
  log: Logger;
  attempts?: number;
  timeoutMs?: number;
}

export function signPayload(body: string, key: string): string {
  return "sha256=" + createHmac("sha256", key).update(body).digest("hex");
}

export class WebhookDispatcher {
  constructor(private readonly opts: WebhookOptions) {}

  send(session: SessionRow, event: string, data: Record<string, unknown>): void {
    if (!session.webhookUrl) return;
    const body = JSON.stringify({ event, sessionId: session.id, sessionName: session.name, timestamp: new Date().toISOString(), data });
    void this.deliver(session, event, body);
  }

  private async deliver(session: SessionRow, event: string, body: string): Promise<void> {
    const attempts = this.opts.attempts ?? 3;
    const signature = signPayload(body, this.opts.secret ?? session.keyHash);
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const res = await fetch(session.webhookUrl!, {
          method: "POST",
          headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signature, "x-webhook-event": event },
          body,
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000),
        });
        if (res.ok) return;
        this.opts.log.warn("webhook answered an error", { sessionId: session.id, event, status: res.status, attempt });
      } catch (err) {
        this.opts.log.warn("webhook delivery failed", { sessionId: session.id, event, attempt, error: String(err) });
      }
      if (attempt < attempts) await Bun.sleep(500 * 2 ** (attempt - 1));
    }
  }
}
