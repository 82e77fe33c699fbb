// The coalescer behind the webhook dispatcher's reads and marks: one batch in flight at a time,
// the calls made meanwhile go together in the next one, and each caller gets its own answer.
import { expect, test } from "bun:test";
import { Coalescer } from "../../src/webhooks/coalesce";

test("a lone call runs at once; calls made while a batch runs go together in the next", async () => {
  const batches: number[][] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const c = new Coalescer<number, number>(async (keys) => {
    batches.push(keys);
    if (batches.length === 1) await gate;
    return (k) => k * 10;
  });
  const first = c.call(1);
  await Bun.sleep(5);
  expect(batches).toEqual([[1]]);
  const later = [c.call(2), c.call(3), c.call(4)];
  await Bun.sleep(5);
  expect(batches).toHaveLength(1); // still waiting for the first
  release();
  expect(await first).toBe(10);
  expect(await Promise.all(later)).toEqual([20, 30, 40]);
  expect(batches).toEqual([[1], [2, 3, 4]]);
});

test("a failed batch rejects its callers only; the next batch runs", async () => {
  let fail = true;
  const c = new Coalescer<string, string>(async () => {
    if (fail) throw new Error("database down");
    return (k) => k.toUpperCase();
  });
  // Made in the same turn, so both are in the failing batch.
  const failed = await Promise.allSettled([c.call("a"), c.call("b")]);
  expect(failed.map((r) => (r.status === "rejected" ? String(r.reason) : r.status))).toEqual(["Error: database down", "Error: database down"]);
  fail = false;
  expect(await c.call("c")).toBe("C");
});
