// Every limit on how much or how fast, in one place; what each limit is set to lives with its
// user (config.ts for the settings). Three kinds:
// - Limiter: at most N jobs at a time, the rest wait in order. New sessions' containers
//   (SANDBOX_CREATE_CONCURRENCY), webhook attempts in flight, and sandboxes' reports stored at once
//   (channel/intake.ts).
// - RateLimiter: at most N a window per key, the rest refused (429). Creates per client address
//   (CREATE_RATE_LIMIT_PER_MINUTE), sends per session (SEND_PER_MINUTE), number checks per session
//   (CHECK_NUMBER_PER_MINUTE). In memory on purpose: a limit that resets when the API restarts
//   is fine for slowing clients down.
// - TokenBuckets: N a second per key after a burst, the rest paced, not refused: a sandbox's
//   reports (channel/intake.ts).

/**
 * At most `concurrency` jobs at a time; the rest wait their turn in order, and none fails for
 * waiting. (Podman serializes much of a container's creation on its own locks, so a burst of
 * creates past a few at once only makes each slower.)
 */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly concurrency: number) {}

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.active >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await job();
    } finally {
      // The slot passes straight to the next in line, so `active` never drops below it.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/**
 * A token bucket per key: `perSecond` units a second, up to `burst` at once. `reserve` takes a
 * unit now or later and says how long to wait for it, so work is paced rather than refused.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {}

  /** Takes one unit for `key`; answers the milliseconds until it is there (0: now). */
  reserve(key: string, now = Date.now()): number {
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.perSecond) / 1000) - 1;
    b.at = now;
    this.buckets.set(key, b);
    return b.tokens >= 0 ? 0 : Math.ceil((-b.tokens * 1000) / this.perSecond);
  }

  forget(key: string): void {
    this.buckets.delete(key);
  }
}

/** Fixed-window counters per key (a session id, a client address). */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; used: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Takes one unit for `key`; false when the window's allowance is spent. */
  take(key: string, now = Date.now()): boolean {
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      w = { start: now, used: 0 };
      this.windows.set(key, w);
      if (this.windows.size > 10_000) this.sweep(now);
    }
    if (w.used >= this.limit) return false;
    w.used++;
    return true;
  }

  /** Gives back a unit taken for something that then did not happen. */
  refund(key: string): void {
    const w = this.windows.get(key);
    if (w && w.used > 0) w.used--;
  }

  forget(key: string): void {
    this.windows.delete(key);
  }

  private sweep(now: number): void {
    for (const [key, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(key);
  }
}
