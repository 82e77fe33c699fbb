// What sandboxes' reports may cost the API. A sandbox may be hostile, and it holds a valid token:
// it can reconnect as often as it likes and send as fast as its link allows. So the bounds are
// kept per session, over all of its connections (a replaced connection's reports count until
// they are dropped), and over all sessions together; a session past its bound is cut off and
// refused for a while. Reports are stored at a bounded rate per session and, past a short burst,
// for a bounded share of the time while others want the API (a store's cost depends on the report
// and the database: with the embedded one it is the API's own thread), through a few writers
// shared fairly: a session waits its turn behind the others' (each session stores one report at a
// time, so the writers' FIFO queue serves sessions round-robin).
import { setTimeout as sleep } from "node:timers/promises";
import { apiLoad } from "../api-load";
import { Limiter, TokenBuckets } from "../limits";

export interface IntakeLimits {
  /** Bytes of reports one session may have waiting to be stored, over all of its connections. */
  sessionBytes: number;
  /** Reports one session may have waiting (small reports cost memory and work too). */
  sessionReports: number;
  /** Bytes of reports all sessions together may have waiting. */
  totalBytes: number;
  /** Reports of one session stored a second, after a burst of `burst`. */
  perSecond: number;
  burst: number;
  /**
   * The share of the time one session's reports may spend being stored (0 to 1), after a burst
   * of `busyBurstMs` of storing: a short burst (a few messages at once) is not paced.
   */
  busyShare: number;
  busyBurstMs: number;
  /** Reports of all sessions stored at once. */
  writers: number;
  /** How long a session that was cut off is refused a new connection. */
  cooldownMs: number;
}

/**
 * An honest sandbox keeps at most 8 MiB and 1,000 reports unacknowledged (sandbox/channel-client.ts);
 * after a reconnect the old connection's and the resent ones may both wait, so twice that fits.
 */
export const DEFAULT_INTAKE: IntakeLimits = {
  sessionBytes: 32 * 1024 * 1024,
  sessionReports: 4096,
  totalBytes: 256 * 1024 * 1024,
  perSecond: 200,
  burst: 1000,
  busyShare: 0.25,
  busyBurstMs: 500,
  writers: 4,
  cooldownMs: 10_000,
};

export type Refusal = "session-bytes" | "session-reports" | "total-bytes";

export class ReportIntake {
  readonly limits: IntakeLimits;
  private readonly waiting = new Map<string, { bytes: number; reports: number }>();
  private total = 0;
  private readonly refusedUntil = new Map<string, number>();
  private readonly rate: TokenBuckets;
  private readonly writers: Limiter;
  /** Each session's allowance of storing time in ms (it refills at `busyShare`), and when it was counted. */
  private readonly busy = new Map<string, { allowance: number; at: number }>();

  constructor(limits: Partial<IntakeLimits> = {}) {
    this.limits = { ...DEFAULT_INTAKE, ...limits };
    this.rate = new TokenBuckets(this.limits.perSecond, this.limits.burst);
    this.writers = new Limiter(this.limits.writers);
  }

  /** Bytes of reports waiting over all sessions (metrics, tests). */
  get totalBytes(): number {
    return this.total;
  }

  /** What a session has waiting now. */
  waitingOf(sessionId: string): { bytes: number; reports: number } {
    return { ...(this.waiting.get(sessionId) ?? { bytes: 0, reports: 0 }) };
  }

  /** Counts a received report against its session: null when it fits, else the bound it broke (then nothing is counted). */
  take(sessionId: string, bytes: number): Refusal | null {
    const w = this.waiting.get(sessionId) ?? { bytes: 0, reports: 0 };
    const refusal: Refusal | null =
      w.bytes + bytes > this.limits.sessionBytes
        ? "session-bytes"
        : w.reports + 1 > this.limits.sessionReports
          ? "session-reports"
          : this.total + bytes > this.limits.totalBytes
            ? "total-bytes"
            : null;
    if (refusal) {
      this.refusedUntil.set(sessionId, Date.now() + this.limits.cooldownMs);
      return refusal;
    }
    w.bytes += bytes;
    w.reports += 1;
    this.waiting.set(sessionId, w);
    this.total += bytes;
    return null;
  }

  /** A report counted by `take` was stored or dropped. */
  release(sessionId: string, bytes: number): void {
    const w = this.waiting.get(sessionId);
    if (!w) return;
    w.bytes -= bytes;
    w.reports -= 1;
    this.total -= bytes;
    if (w.reports <= 0) this.waiting.delete(sessionId);
  }

  /** Milliseconds the session is still refused a connection (0: it may connect). */
  refusedFor(sessionId: string, now = Date.now()): number {
    const until = this.refusedUntil.get(sessionId);
    if (until === undefined) return 0;
    if (until <= now) {
      this.refusedUntil.delete(sessionId);
      return 0;
    }
    return until - now;
  }

  /**
   * Runs `store` at the session's rate, in its turn among the writers, and, while others want the
   * API too (HTTP requests coming, or another session's reports waiting), at its share of the
   * time: with PGlite a store runs on the API's own thread. An honest sync on a quiet API goes at
   * full speed.
   */
  async store<T>(sessionId: string, store: () => Promise<T>): Promise<T> {
    const rest = this.restFor(sessionId);
    const wait = Math.max(this.rate.reserve(sessionId), this.contended(sessionId) ? rest : 0);
    // Under a millisecond is not worth a timer (it would take one anyway).
    if (wait >= 1) await sleep(wait);
    return this.writers.run(async () => {
      const started = performance.now();
      try {
        return await store();
      } finally {
        // Absent when the session was forgotten (stopped) while this report was stored.
        const b = this.busy.get(sessionId);
        if (b) b.allowance -= performance.now() - started;
      }
    });
  }

  /** Whether to share: HTTP requests are coming, or another session has reports waiting. */
  private contended(sessionId: string): boolean {
    if (apiLoad.busy()) return true;
    for (const [id, w] of this.waiting) if (id !== sessionId && w.reports > 0) return true;
    return false;
  }

  /** How long the session must rest before it may store again: until its allowance of storing time is back above zero. */
  private restFor(sessionId: string): number {
    const now = performance.now();
    const { busyShare, busyBurstMs } = this.limits;
    const b = this.busy.get(sessionId) ?? { allowance: busyBurstMs, at: now };
    b.allowance = Math.min(busyBurstMs, b.allowance + (now - b.at) * busyShare);
    b.at = now;
    this.busy.set(sessionId, b);
    return b.allowance >= 0 ? 0 : -b.allowance / busyShare;
  }

  forget(sessionId: string): void {
    this.rate.forget(sessionId);
    this.busy.delete(sessionId);
    this.refusedUntil.delete(sessionId);
  }
}

