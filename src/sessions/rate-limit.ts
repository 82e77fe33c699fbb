// Fixed-window counters per key (a session id, a client address). In memory on purpose: a
// limit that resets when the API restarts is fine for slowing clients down.

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
