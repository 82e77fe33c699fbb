// Delivers the webhook outbox: at least once, in order per session, signed the Standard
// Webhooks way. Each session with undelivered events has one worker that sends them oldest
// first and stops at the first failure (retried later with backoff), so a slow or dead
// receiver holds up only its own session. Nothing here runs on a request's or report's path:
// they only write the outbox and wake the dispatcher.
import { Webhook } from "standardwebhooks";
import type { DeliveryRepository } from "../db/delivery-repository";
import type { DeliveryRow, SessionRow } from "../db/schema";
import type { Logger } from "../log";
import { postPinned } from "./pinned-request";
import type { WebhookSecrets } from "./secrets";

export interface DispatcherOptions {
  deliveries: DeliveryRepository;
  /** The session as it is now (its URL, events, secret salt), or null when it is gone. */
  session: (sessionId: string) => Promise<SessionRow | null>;
  secrets: WebhookSecrets;
  log: Logger;
  retryHours: number;
  keepDays: number;
  backoffMs: number;
  timeoutMs: number;
  allowPrivate: boolean;
  /** Attempts running at once, over all sessions. */
  concurrency?: number;
}

/** Rows a worker reads at a time. */
const BATCH = 100;
const MAX_BACKOFF_MS = 3_600_000;
/** How often the outbox is swept for due retries and old rows, besides the timers. */
const SWEEP_MS = 30_000;

export interface AttemptOutcome {
  sessionId: string;
  event: string;
  status: "delivered" | "failed" | "dead";
  httpStatus: number | null;
  /** From the event's creation to this attempt's end. */
  latencyMs: number;
}

export class WebhookDispatcher {
  private readonly workers = new Map<string, Promise<void>>();
  /** Sessions woken while their worker ran: it goes round once more. */
  private readonly again = new Set<string>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private sweeper: ReturnType<typeof setInterval> | null = null;
  private stopped = false;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** Called after every attempt (metrics, benchmarks). */
  onAttempt?: (outcome: AttemptOutcome) => void;

  constructor(private readonly o: DispatcherOptions) {}

  /** Starts delivering what the outbox holds (events left by an earlier run go first). */
  start(): void {
    this.stopped = false;
    void this.sweep();
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_MS);
    this.sweeper.unref?.();
  }

  /** Stops taking new work and waits for attempts in flight (bounded by the request timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.workers.values()]);
  }

  /** Something was written for this session: deliver it (soon, after what is ahead of it). */
  wake(sessionId: string): void {
    if (this.stopped) return;
    if (this.workers.has(sessionId)) {
      this.again.add(sessionId);
      return;
    }
    const work = this.work(sessionId)
      .catch((err) => this.o.log.error("webhook worker failed", { sessionId, error: String(err) }))
      .finally(() => {
        this.workers.delete(sessionId);
        if (this.again.delete(sessionId)) this.wake(sessionId);
      });
    this.workers.set(sessionId, work);
  }

  private async sweep(): Promise<void> {
    try {
      for (const id of await this.o.deliveries.sessionsDue()) this.wake(id);
      const pruned = await this.o.deliveries.prune(new Date(Date.now() - this.o.keepDays * 86_400_000));
      if (pruned > 0) this.o.log.info("delivered webhooks pruned", { count: pruned });
    } catch (err) {
      this.o.log.warn("webhook outbox sweep failed", { error: String(err) });
    }
  }

  private async work(sessionId: string): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const rows = await this.o.deliveries.openOf(sessionId, BATCH);
      if (rows.length === 0) return;
      for (const row of rows) {
        if (this.stopped) return;
        const wait = row.nextAttemptAt.getTime() - Date.now();
        // The oldest open event is not due yet: the later ones wait behind it (order per session).
        if (wait > 0) return this.later(sessionId, wait);
        const session = await this.o.session(sessionId);
        if (!session?.webhookUrl || session.webhookDisabledReason) {
          if (session) await this.o.deliveries.abandon(sessionId, session.webhookDisabledReason ?? "the session's webhook was removed");
          return;
        }
        const outcome = await this.slot(() => this.attempt(session, row));
        if (outcome === "retry-later") return; // a timer wakes the session again
        if (outcome === "gone") return;
      }
      if (rows.length < BATCH) return;
    }
  }

  /** One attempt at one delivery; its outcome is stored before the next event is tried. */
  private async attempt(session: SessionRow, row: DeliveryRow): Promise<"delivered" | "retry-later" | "dead" | "gone"> {
    const attemptAt = new Date();
    const secret = this.o.secrets.secretOf(session.id, session.webhookSecretSalt ?? "");
    const headers = {
      "content-type": "application/json",
      "user-agent": "wa-session-api webhooks",
      "webhook-id": row.id,
      "webhook-timestamp": String(Math.floor(attemptAt.getTime() / 1000)),
      "webhook-signature": new Webhook(secret).sign(row.id, attemptAt, row.body),
    };
    let status: number | null = null;
    let error: string | null = null;
    try {
      status = (await postPinned(new URL(session.webhookUrl!), row.body, headers, { timeoutMs: this.o.timeoutMs, allowPrivate: this.o.allowPrivate })).status;
    } catch (err) {
      error = errorText(err);
    }
    const report = (s: AttemptOutcome["status"]) =>
      this.onAttempt?.({ sessionId: session.id, event: row.event, status: s, httpStatus: status, latencyMs: Date.now() - row.createdAt.getTime() });
    if (status !== null && status >= 200 && status < 300) {
      await this.o.deliveries.delivered(row.id, status);
      report("delivered");
      return "delivered";
    }
    if (status === 410) {
      const reason = `the receiver answered 410 Gone at ${attemptAt.toISOString()}`;
      await this.o.deliveries.failed(row.id, { status, error: "410 Gone", nextAttemptAt: null });
      await this.o.deliveries.disable(session.id, reason);
      this.o.log.warn("webhook disabled: the receiver is gone", { sessionId: session.id, event: row.event });
      report("dead");
      return "gone";
    }
    error ??= `the receiver answered ${status}`;
    const windowStart = (row.retriedAt ?? row.createdAt).getTime();
    const delay = Math.min(this.o.backoffMs * 2 ** row.attempts, MAX_BACKOFF_MS) * (0.5 + Math.random());
    const next = Date.now() + delay;
    const dead = next > windowStart + this.o.retryHours * 3_600_000;
    await this.o.deliveries.failed(row.id, { status, error, nextAttemptAt: dead ? null : new Date(next) });
    this.o.log.warn(dead ? "webhook delivery dead after its retry window" : "webhook delivery failed; will retry", {
      sessionId: session.id,
      event: row.event,
      attempt: row.attempts + 1,
      status,
      error,
    });
    report(dead ? "dead" : "failed");
    if (dead) return "dead";
    this.later(session.id, delay);
    return "retry-later";
  }

  private later(sessionId: string, ms: number): void {
    clearTimeout(this.timers.get(sessionId));
    const timer = setTimeout(() => {
      this.timers.delete(sessionId);
      this.wake(sessionId);
    }, ms);
    timer.unref?.();
    this.timers.set(sessionId, timer);
  }

  /** Runs `work` when fewer than `concurrency` attempts are in flight. */
  private async slot<T>(work: () => Promise<T>): Promise<T> {
    const max = this.o.concurrency ?? 256;
    while (this.running >= max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      return await work();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}

function errorText(err: unknown): string {
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  return (code ? `${code}: ${message}` : message).slice(0, 500);
}
