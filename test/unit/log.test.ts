import { describe, expect, test } from "bun:test";
import { DrizzleQueryError } from "drizzle-orm/errors";
import { createLogger, describeError, MAX_LOG_ARRAY, MAX_LOG_LINE, MAX_LOG_STRING } from "../../src/log";

describe("structured logs", () => {
  test("one JSON object per line, below-level records dropped", () => {
    const lines: string[] = [];
    const log = createLogger("info", { svc: "api" }, (l) => lines.push(l));
    log.debug("hidden");
    log.info("session created", { sessionId: "s1" });
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!);
    expect(rec).toMatchObject({ level: "info", msg: "session created", svc: "api", sessionId: "s1" });
    expect(typeof rec.time).toBe("string");
  });

  test("keys and tokens never reach a line", () => {
    const lines: string[] = [];
    const log = createLogger("debug", {}, (l) => lines.push(l));
    const key = "wask_" + "ab".repeat(24);
    const admin = "wamk_" + "cd".repeat(24);
    const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    log.info("oops", { apiKey: key, nested: { token: jwt, note: `got ${admin} and ${jwt}` }, error: new Error(`bad key ${key}`) });
    const text = lines.join("\n");
    expect(text).not.toContain(key);
    expect(text).not.toContain(admin);
    expect(text).not.toContain(jwt);
    expect(text).toContain("[redacted]");
  });
});

describe("bounded logs without query parameters", () => {
  const capture = () => {
    const lines: string[] = [];
    return { lines, log: createLogger("debug", {}, (l) => lines.push(l)) };
  };
  // The message drizzle-orm 0.45 gives a failed query (DrizzleQueryError), with its cause.
  const failedQuery = (params: unknown[], cause: Error) => {
    return new DrizzleQueryError('select "id" from "sessions" where "key_hash" = $1', params, cause);
  };

  test("a failed query's parameters reach no line, whether logged as an error, its message or String(err)", () => {
    const { lines, log } = capture();
    const hash = "9f".repeat(32);
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5999"), { code: "ECONNREFUSED" });
    const err = failedQuery([hash], refused);
    expect(err.message).toContain(hash); // what the old logger wrote
    log.error("unhandled error", { error: err });
    log.error("unhandled error", { error: err.message });
    log.error("could not store", { error: String(err), params: [hash] });
    const text = lines.join("\n");
    expect(text).not.toContain(hash);
    expect(text).not.toContain("params:");
    const rec = JSON.parse(lines[0]!);
    expect(rec.error).toEqual({
      type: "DrizzleQueryError",
      message: 'Failed query: select "id" from "sessions" where "key_hash" = $1\n[query parameters omitted]',
      cause: { type: "Error", code: "ECONNREFUSED", message: "connect ECONNREFUSED 127.0.0.1:5999" },
    });
  });

  test("describeError names class, code and message, follows cause, and drops every other field", () => {
    const pgError = Object.assign(new Error("duplicate key value violates unique constraint"), {
      name: "PostgresError",
      code: "23505",
      detail: "Key (name)=(secret-name) already exists.",
      parameters: ["secret-name"],
      query: "insert ...",
    });
    const d = describeError(new Error("outer", { cause: pgError }));
    expect(d).toEqual({ type: "Error", message: "outer", cause: { type: "Error (PostgresError)", code: "23505", message: "duplicate key value violates unique constraint" } });
    expect(JSON.stringify(d)).not.toContain("secret-name");
    expect(describeError("plain")).toEqual({ type: "string", message: "plain" });
  });

  test("long strings, long arrays and long lines are cut, and say so", () => {
    const { lines, log } = capture();
    log.info("big", { text: "x".repeat(5000), list: Array.from({ length: 1000 }, (_, i) => ({ id: `c${i}` })) });
    const rec = JSON.parse(lines[0]!);
    expect(rec.text).toStartWith("x".repeat(MAX_LOG_STRING));
    expect(rec.text).toEndWith("…[truncated 4000 chars]");
    expect(rec.list).toHaveLength(MAX_LOG_ARRAY + 1);
    expect(rec.list.at(-1)).toBe("…[980 more of 1000]");

    // The 1.5 MB contacts write: many fields of long strings still give one short line.
    const wide: Record<string, string> = {};
    for (let i = 0; i < 200; i++) wide[`f${i}`] = "y".repeat(900);
    log.error("could not store sandbox report", { sessionId: "s1", ...wide });
    expect(Buffer.byteLength(lines[1]!)).toBeLessThanOrEqual(MAX_LOG_LINE);
    const cut = JSON.parse(lines[1]!);
    expect(cut).toMatchObject({ level: "error", msg: "could not store sandbox report", truncated: true });

    const huge = "z".repeat(1_500_000);
    log.error("contacts", { error: new Error(`Failed query: insert into contacts values ${huge}`) });
    expect(Buffer.byteLength(lines[2]!)).toBeLessThanOrEqual(MAX_LOG_LINE);
    expect(JSON.parse(lines[2]!).error.message).toContain("[truncated");
  });
});
