import { describe, expect, test } from "bun:test";
import { ApiError } from "../../src/http/errors";
import { jsonDepth, jsonTextDepth, MAX_JSON_DEPTH, readJsonBody } from "../../src/http/json-body";

const nested = (n: number) => "[".repeat(n) + "]".repeat(n);
const post = (body: string) => new Request("http://x/", { method: "POST", headers: { "content-type": "application/json" }, body });

async function refusal(body: string): Promise<ApiError> {
  try {
    await readJsonBody(post(body));
  } catch (err) {
    return err as ApiError;
  }
  throw new Error("the body was accepted");
}

describe("JSON nesting", () => {
  test("text depth counts brackets outside strings only, escapes included", () => {
    expect(jsonTextDepth("1")).toBe(0);
    expect(jsonTextDepth('{"a":[1,{"b":{}}]}')).toBe(4);
    expect(jsonTextDepth('{"a":"[[[{{{"}')).toBe(1);
    expect(jsonTextDepth('{"a":"quote \\" [[[ \\\\"}')).toBe(1);
    expect(jsonTextDepth('["\\\\", [[]]]')).toBe(3);
    expect(jsonTextDepth(nested(50_000), 32)).toBe(33); // stops early
  });

  test("value depth: scalars 0, each object or array one level, no recursion", () => {
    expect(jsonDepth("x")).toBe(0);
    expect(jsonDepth({})).toBe(1);
    expect(jsonDepth({ a: [1, { b: null }], c: {} })).toBe(3);
    let deep: unknown = {};
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    expect(jsonDepth(deep)).toBe(100_001);
    expect(jsonDepth(deep, 8)).toBe(9);
  });

  test("a body nested past the limit is refused with 400 naming the limit before it is parsed; one at the limit is read", async () => {
    for (const depth of [MAX_JSON_DEPTH + 1, 8_000, 50_000]) {
      const err = await refusal(`{"metadata":${nested(depth - 1)}}`);
      expect(err).toBeInstanceOf(ApiError);
      expect(err.status).toBe(400);
      expect(err.code).toBe("INVALID_JSON");
      expect(err.message).toContain(`${MAX_JSON_DEPTH} levels`);
    }
    const ok = await readJsonBody(post(`{"metadata":${nested(MAX_JSON_DEPTH - 1)}}`));
    expect(jsonDepth(ok)).toBe(MAX_JSON_DEPTH);
    // Brackets inside strings do not count.
    expect(await readJsonBody(post(JSON.stringify({ name: "[".repeat(1000) })))).toEqual({ name: "[".repeat(1000) });
  });
});
