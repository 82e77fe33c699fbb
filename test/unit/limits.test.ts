import { expect, test } from "bun:test";
import { RateLimiter } from "../../src/limits";

test("fixed window: allows the limit, refuses more, resets after the window", () => {
  const rl = new RateLimiter(3, 1000);
  expect([rl.take("a", 0), rl.take("a", 10), rl.take("a", 20), rl.take("a", 30)]).toEqual([true, true, true, false]);
  expect(rl.take("b", 30)).toBe(true);
  expect(rl.take("a", 1000)).toBe(true);
});
