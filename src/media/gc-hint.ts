// A file streamed through the API leaves its chunks behind (a request's body, a fetched URL's
// response): Bun's collector let them pile up to about 60 MiB for a 64 MiB file. Asking for
// a collection every 8 MiB streamed keeps a transfer's growth within half its size at the
// cost of a few milliseconds. Deno collects on its own (no hint there).
const EVERY = 8 * 1024 * 1024;
const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;

export class CollectHint {
  private since = 0;

  /** Counts bytes streamed; past every 8 MiB, asks the runtime to collect. */
  count(bytes: number): void {
    this.since += bytes;
    if (this.since < EVERY) return;
    this.since = 0;
    bun?.gc(false);
  }
}
