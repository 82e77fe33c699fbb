import { describe, expect, test } from "bun:test";
import { createLogger } from "../../src/log";

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
