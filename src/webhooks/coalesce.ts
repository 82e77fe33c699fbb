// Merges calls made while one batch is in flight into the next batch: under load, many sessions'
// reads (or delivered marks) become one statement instead of one each, and a lone call still
// goes out at once. Each socket write to the database costs a wake-up of its backend, which on a
// busy host is most of what a small query costs.
export class Coalescer<K, V> {
  private queued: { key: K; resolve: (value: V) => void; reject: (err: unknown) => void }[] = [];
  private busy = false;

  /** `run` answers a whole batch; the function it returns picks each caller's answer. */
  constructor(private readonly run: (keys: K[]) => Promise<(key: K) => V>) {}

  call(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.queued.push({ key, resolve, reject });
      if (!this.busy) this.next();
    });
  }

  private next(): void {
    this.busy = true;
    // After the current turn: calls made in it join this batch.
    queueMicrotask(() => void this.flush());
  }

  private async flush(): Promise<void> {
    const batch = this.queued;
    this.queued = [];
    try {
      const pick = await this.run(batch.map((b) => b.key));
      for (const b of batch) b.resolve(pick(b.key));
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
    if (this.queued.length > 0) this.next();
    else this.busy = false;
  }
}
