// Delivers the webhook outbox: at least once, in order per session, signed the Standard
// Webhooks way. Each session with undelivered events has one worker that sends them oldest
// first and stops at the first failure (retried later with backoff), so a slow or dead
// receiver holds up only its own session. Nothing here runs on a request's or report's path:
// they only write the outbox and wake the dispatcher.
import { Webhook } from "standardwebhooks";
import type { DeliveryRepository } from "../db/delivery-repository";
import type { DeliveryRow, SessionRow } from "../db/schema";
import type { Logger } from "../log";
import { Limiter } from "../limits";
import { Coalescer } from "./coalesce";
import { pinnedAgents, postPinned } from "../net/pinned-request";
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
  /** Told of every attempt (metrics). */
  onAttempt?: (outcome: AttemptOutcome) => void;
  /**
   * Nodes sharing the database: a worker delivers a session's events only while it holds the
   * session's lease (PostgreSQL), so two nodes never deliver one session's events at once.
   */
  lease?: {
    /** This node: the lease's holder. */
    node: string;
    /** NODE_DEAD_SECONDS: a dead node's leases are taken over at once. */
    deadSeconds: number;
  };
}

/** Rows a worker reads at a time. */
const BATCH = 100;
const MAX_BACKOFF_MS = 3_600_000;
/** How long a lease is kept after its session's worker went idle. */
const LEASE_IDLE_MS = 5_000;
/** How often the outbox is swept for due retries and old rows, besides the timers. */
const SWEEP_MS = 30_000;

interface Failure {
  status: number | null;
  error: string;
  next: "retry-later" | "dead" | "gone";
  at: Date;
  /** Until the next attempt, when there is one. */
  delay?: number;
}

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
  /** Attempts in flight over all sessions. */
  private readonly attempts: Limiter;
  private readonly agents: ReturnType<typeof pinnedAgents>;
  /** Workers' reads of their open events, many sessions per statement. */
  private readonly openEvents: Coalescer<string, DeliveryRow[]>;
  /** Successes marked delivered, many per statement (one per distinct 2xx status). */
  private readonly marks: Coalescer<{ id: string; status: number }, void>;
  /** The leases this node holds, until when, and the timer that gives each back once idle. */
  private readonly held = new Map<string, { until: number; release?: ReturnType<typeof setTimeout> }>();
  /** Leases being given back (a new take waits for its give). */
  private readonly giving = new Map<string, Promise<void>>();
  /** Leases taken and given back, many sessions per statement. */
  private readonly leases: { take: Coalescer<string, boolean>; give: Coalescer<string, void>; seconds: number } | null = null;

  constructor(private readonly o: DispatcherOptions) {
    this.agents = pinnedAgents(o.allowPrivate);
    this.attempts = new Limiter(o.concurrency ?? 256);
    this.openEvents = new Coalescer(async (sessionIds) => {
      const bySession = Map.groupBy(await o.deliveries.openOfMany([...new Set(sessionIds)], BATCH), (row) => row.sessionId);
      return (sessionId) => bySession.get(sessionId) ?? [];
    });
    if (o.lease) {
      const { node, deadSeconds } = o.lease;
      // Longer than a worker holds one session's attempt (its timeout), renewed as it goes on.
      const seconds = Math.max(60, Math.ceil((3 * o.timeoutMs) / 1000));
      this.leases = {
        seconds,
        take: new Coalescer(async (ids) => {
          const held = await o.deliveries.lease(ids, node, seconds, deadSeconds);
          return (id) => held.has(id);
        }),
        give: new Coalescer(async (ids) => {
          await o.deliveries.release(ids, node);
          return () => {};
        }),
      };
    }
    this.marks = new Coalescer(async (marks) => {
      const byStatus = Map.groupBy(marks, (m) => m.status);
      await Promise.all([...byStatus].map(([status, ms]) => o.deliveries.delivered(ms.map((m) => m.id), status)));
      return () => {};
    });
  }

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
    // What this node held goes back now: another node need not wait out the leases' time.
    const held = [...this.held.keys()];
    for (const h of this.held.values()) clearTimeout(h.release);
    this.held.clear();
    if (this.leases && held.length > 0) await Promise.allSettled(held.map((id) => this.leases!.give.call(id)));
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** Something was written for this session: deliver it (soon, after what is ahead of it). */
  wake(sessionId: string): void {
    if (this.stopped) return;
    if (this.workers.has(sessionId)) {
      this.again.add(sessionId);
      return;
    }
    const work = this.work(sessionId)
      .catch((err) => this.o.log.error("webhook worker failed", { sessionId, error: err }))
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
      this.o.log.warn("webhook outbox sweep failed", { error: err });
    }
  }

  private async work(sessionId: string): Promise<void> {
    if (!this.leases) return this.deliver(sessionId, () => Promise.resolve(true));
    // Another node delivers this session's events now; look again later, should it stop.
    if (!(await this.hold(sessionId))) return this.later(sessionId, LEASE_IDLE_MS * 2);
    try {
      await this.deliver(sessionId, () => this.hold(sessionId));
    } finally {
      this.letGo(sessionId);
    }
  }

  /**
   * Whether this node holds the session's lease: from memory while it has two thirds of its time
   * left, else taken (or renewed) in the database. A busy session costs no statement per run.
   */
  private async hold(sessionId: string): Promise<boolean> {
    const leases = this.leases!;
    // A lease being given back is gone first: the give must not land after a new take.
    await this.giving.get(sessionId);
    const held = this.held.get(sessionId);
    if (held) clearTimeout(held.release);
    if (held && held.until - Date.now() > (leases.seconds * 2000) / 3) return true;
    const ok = await leases.take.call(sessionId);
    if (ok) this.held.set(sessionId, { until: Date.now() + leases.seconds * 1000 });
    else this.held.delete(sessionId);
    return ok;
  }

  /** The lease goes back a moment after the worker went idle (another run soon keeps it). */
  private letGo(sessionId: string): void {
    const held = this.held.get(sessionId);
    if (!held) return;
    clearTimeout(held.release);
    held.release = setTimeout(() => {
      this.held.delete(sessionId);
      const giving = this.leases!.give
        .call(sessionId)
        .catch((err) => this.o.log.warn("webhook lease not given back", { sessionId, error: err }))
        .finally(() => this.giving.delete(sessionId));
      this.giving.set(sessionId, giving);
    }, LEASE_IDLE_MS);
    held.release.unref?.();
  }

  /** Sends the session's open events in order; `keep` says whether this node still holds its lease. */
  private async deliver(sessionId: string, keep: () => Promise<boolean>): Promise<void> {
    // Successes are marked after each run of them, with other sessions' marks in one statement;
    // an API that dies before the mark sends those again, which at-least-once allows (receivers dedupe by id).
    let delivered: { id: string; status: number }[] = [];
    const flush = async () => {
      const marks = delivered;
      delivered = [];
      await Promise.all(marks.map((m) => this.marks.call(m)));
    };
    try {
      for (;;) {
        if (this.stopped) return;
        const rows = await this.openEvents.call(sessionId);
        if (rows.length === 0) return;
        for (const row of rows) {
          if (this.stopped || !(await keep())) return;
          const wait = row.nextAttemptAt.getTime() - Date.now();
          // The oldest open event is not due yet: the later ones wait behind it (order per session).
          if (wait > 0) return this.later(sessionId, wait);
          const session = await this.o.session(sessionId);
          if (!session?.webhookUrl || session.webhookDisabledReason) {
            if (session) await this.o.deliveries.abandon(sessionId, session.webhookDisabledReason ?? "the session's webhook was removed");
            return;
          }
          const outcome = await this.attempts.run(() => this.attempt(session, row));
          if (typeof outcome === "number") {
            delivered.push({ id: row.id, status: outcome });
            continue;
          }
          await flush();
          await this.record(session, row, outcome);
          if (outcome.next === "retry-later" || outcome.next === "gone") return; // a timer (or a new URL) wakes it again
        }
        await flush();
        if (rows.length < BATCH) return;
      }
    } finally {
      await flush();
    }
  }

  /** One attempt at one delivery: the 2xx status it got, or how it failed. */
  private async attempt(session: SessionRow, row: DeliveryRow): Promise<number | Failure> {
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
      status = (await postPinned(new URL(session.webhookUrl!), row.body, headers, { timeoutMs: this.o.timeoutMs, allowPrivate: this.o.allowPrivate, agents: this.agents })).status;
    } catch (err) {
      error = lastErrorOf(err);
    }
    if (status !== null && status >= 200 && status < 300) {
      this.report(session, row, "delivered", status);
      return status;
    }
    if (status === 410) return { status, error: "410 Gone", next: "gone", at: attemptAt };
    const windowStart = (row.retriedAt ?? row.createdAt).getTime();
    const delay = Math.min(this.o.backoffMs * 2 ** row.attempts, MAX_BACKOFF_MS) * (0.5 + Math.random());
    const dead = Date.now() + delay > windowStart + this.o.retryHours * 3_600_000;
    return { status, error: error ?? `the receiver answered ${status}`, next: dead ? "dead" : "retry-later", at: attemptAt, delay };
  }

  /** Stores a failed attempt before anything after it is tried. */
  private async record(session: SessionRow, row: DeliveryRow, f: Failure): Promise<void> {
    if (f.next === "gone") {
      const reason = `the receiver answered 410 Gone at ${f.at.toISOString()}`;
      await this.o.deliveries.failed(row.id, { status: f.status, error: f.error, nextAttemptAt: null });
      await this.o.deliveries.disable(session.id, reason);
      this.o.log.warn("webhook disabled: the receiver is gone", { sessionId: session.id, event: row.event });
      this.report(session, row, "dead", f.status);
      return;
    }
    const next = f.next === "dead" ? null : new Date(Date.now() + f.delay!);
    await this.o.deliveries.failed(row.id, { status: f.status, error: f.error, nextAttemptAt: next });
    this.o.log.warn(next ? "webhook delivery failed; will retry" : "webhook delivery dead after its retry window", {
      sessionId: session.id,
      event: row.event,
      attempt: row.attempts + 1,
      status: f.status,
      error: f.error,
    });
    this.report(session, row, next ? "failed" : "dead", f.status);
    if (next) this.later(session.id, f.delay!);
  }

  private report(session: SessionRow, row: DeliveryRow, status: AttemptOutcome["status"], httpStatus: number | null): void {
    this.o.onAttempt?.({ sessionId: session.id, event: row.event, status, httpStatus, latencyMs: Date.now() - row.createdAt.getTime() });
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
}

/** What a failed attempt shows as the delivery's lastError: the code and message, bounded. */
function lastErrorOf(err: unknown): string {
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  return (code ? `${code}: ${message}` : message).slice(0, 500);
}
