// Bytes both ways between two connections, whatever each is: a Bun socket (the session's side,
// and a direct connection to WhatsApp) or a node:net socket (what the SOCKS library and the HTTP
// CONNECT handshake give). Bun's own sockets skip node:net's stream machinery, which cost the
// gateway about half a millisecond of CPU a message. Backpressure both ways (a side that cannot
// take more pauses the other), an end passed on once what was queued is written (a response is
// never cut short), an error ends both, and a side left half-open after the other closed is cut
// after a while.
import type { Socket as NodeSocket } from "node:net";

/** How long one side may stay open after the other closed. */
const HALF_OPEN_MS = 30_000;

export interface EndHandlers {
  data(chunk: Uint8Array): void;
  /** The peer sent its end (FIN): nothing more will be read. */
  end(): void;
  /** Fully closed (or destroyed). */
  close(): void;
  /** What was queued is written: the other side may send again. */
  drain(): void;
}

/** One side of a relay. */
export interface End {
  handlers: EndHandlers;
  /** false: queued, wait for `drain`. */
  write(chunk: Uint8Array): boolean;
  /** Ends the write side once the queue is written. */
  end(): void;
  destroy(): void;
  pause(): void;
  resume(): void;
  readonly closed: boolean;
  /** Closed by an error (a reset, a failed write): the other side goes at once. */
  readonly errored: boolean;
}

const noHandlers: EndHandlers = { data() {}, end() {}, close() {}, drain() {} };

/** A Bun socket as an End; its listener's or connector's handlers call `onData`, `onEnd`, `onDrain`, `onClose`. */
export class BunEnd implements End {
  handlers: EndHandlers = noHandlers;
  closed = false;
  errored = false;
  private queue: Uint8Array[] = [];
  private ending = false;

  /** `closed`: told once, however the socket closed (its own close, or destroyed here). */
  constructor(
    private readonly socket: import("bun").Socket<unknown>,
    private readonly closedHook?: () => void,
  ) {}

  write(chunk: Uint8Array): boolean {
    if (this.closed) return true;
    if (this.queue.length > 0) {
      this.queue.push(chunk.slice());
      return false;
    }
    const n = this.socket.write(chunk);
    if (n >= chunk.length) return true;
    this.queue.push(chunk.slice(Math.max(0, n)));
    return false;
  }

  end(): void {
    this.ending = true;
    if (this.queue.length === 0 && !this.closed) this.socket.end();
  }

  destroy(): void {
    if (this.closed) return;
    this.socket.terminate();
    this.onClose();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  onData(chunk: Uint8Array): void {
    this.handlers.data(chunk);
  }

  onEnd(): void {
    this.handlers.end();
  }

  /** The socket can take more: what was queued goes first. */
  onDrain(): void {
    while (this.queue.length > 0) {
      const chunk = this.queue[0]!;
      const n = this.socket.write(chunk);
      if (n < chunk.length) {
        this.queue[0] = chunk.subarray(Math.max(0, n));
        return;
      }
      this.queue.shift();
    }
    if (this.ending) {
      if (!this.closed) this.socket.end();
    } else this.handlers.drain();
  }

  onError(): void {
    this.errored = true;
    this.destroy();
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.closedHook?.();
    this.handlers.close();
  }
}

/** A node:net socket as an End. */
export class NodeEnd implements End {
  handlers: EndHandlers = noHandlers;
  closed = false;
  errored = false;

  constructor(private readonly socket: NodeSocket) {
    socket.on("data", (c: Buffer) => this.handlers.data(c));
    socket.on("end", () => this.handlers.end());
    socket.on("drain", () => this.handlers.drain());
    socket.on("error", () => {
      this.errored = true;
      socket.destroy();
    });
    socket.on("close", () => {
      this.closed = true;
      this.handlers.close();
    });
    if (socket.destroyed) this.closed = true;
  }

  write(chunk: Uint8Array): boolean {
    // node:net may hold the chunk until it is flushed; the caller's buffer may be reused.
    return this.closed ? true : this.socket.write(Buffer.from(chunk));
  }

  end(): void {
    if (!this.closed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }
}

/** Joins two ends; `counted` sees the bytes each way. `early` goes to `b` first (what `a` sent before the relay). */
export function relay(a: End, b: End, early: Uint8Array, counted: { out: number; in: number }): void {
  a.handlers = forward(a, b, (n) => (counted.out += n));
  b.handlers = forward(b, a, (n) => (counted.in += n));
  if (early.length > 0) {
    counted.out += early.length;
    if (!b.write(early)) a.pause();
  }
  a.resume();
  b.resume();
}

/** What `from` does with what it reads and when it ends: `to` gets it, and `from` waits while `to` cannot take more. */
function forward(from: End, to: End, count: (bytes: number) => void): EndHandlers {
  return {
    data(chunk) {
      count(chunk.length);
      if (!to.write(chunk)) from.pause();
    },
    end: () => to.end(),
    close() {
      if (to.closed) return;
      if (from.errored) to.destroy();
      else setTimeout(() => to.destroy(), HALF_OPEN_MS).unref();
    },
    // `from` can take more: `to` may send again.
    drain: () => to.resume(),
  };
}
