// Containers of new sessions are made at most `concurrency` at a time: Podman serializes much
// of a container's creation on its own locks, so a burst of creates past a few at once only
// makes every one of them slower (bench/density.ts). Creates answer at once; their containers
// wait here, in order, and none fails because others are in flight.
export class CreateQueue {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly concurrency: number) {}

  /** Containers waiting for a slot (not counting those being made). */
  get queued(): number {
    return this.waiting.length;
  }

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
