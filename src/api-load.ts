// Whether other work wants the API's thread, for work that should yield to it: the HTTP layer
// notes when it last began answering a request (the live event stream, which stays open, is not
// such work), and the channel's intake paces a session's report stores while requests come
// (channel/intake.ts). A time, not a count of requests in flight: nothing can leave it stuck.
export const apiLoad = {
  lastRequestAt: Number.NEGATIVE_INFINITY,
  /** Whether a request began within the last second. */
  busy(now = performance.now()): boolean {
    return now - this.lastRequestAt < 1000;
  },
};
