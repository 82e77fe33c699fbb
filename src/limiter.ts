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
