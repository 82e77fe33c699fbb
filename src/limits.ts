// At most `concurrency` jobs at a time; the rest wait their turn in order, and none fails for
// waiting. New sessions' containers go through one (Podman serializes much of a container's
// creation on its own locks, so a burst past a few at once only makes each slower), and the
// sandbox's key files through another (linking writes 812 pre-keys at once, in a container
// allowed 1024 open files).
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
