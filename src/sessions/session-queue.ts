// One queue per session: user operations, sandbox reports and runtime events on one session run
// one at a time, in arrival order, so two of them can never interleave (a stop half-way through
// a start, a delete while the container is being created).

export class SessionQueues {
  private readonly tails = new Map<string, Promise<unknown>>();

  /**
   * Runs `work` once everything queued before it on `sessionId` has settled. `contended` tells
   * the work whether it had to wait (state read before the call may then be stale).
   */
  run<T>(sessionId: string, work: (contended: boolean) => Promise<T>): Promise<T> {
    const prev = this.tails.get(sessionId);
    const result = (prev ?? Promise.resolve()).then(() => work(prev !== undefined));
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(sessionId, tail);
    void tail.then(() => {
      if (this.tails.get(sessionId) === tail) this.tails.delete(sessionId);
    });
    return result;
  }
}
