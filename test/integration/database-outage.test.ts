// A PostgreSQL outage, on a server of the test's own: the API answers 503 DATABASE_UNAVAILABLE
// (not 400 or 500), /health says so quickly, the logs carry no query parameters (a session
// key's hash was one), and the API serves again once the server is back.
import { afterAll, expect, test } from "bun:test";
import { hashKey } from "../../src/auth/keys";
import { startTestApi, type TestApi } from "../support/api";
import { waitFor } from "../support/env";
import { startPrivatePostgres, type PrivatePostgres } from "../support/private-postgres";

let pg: PrivatePostgres | undefined;
let t: TestApi | undefined;
afterAll(async () => {
  await pg?.start().catch(() => {});
  await t?.close();
  await pg?.destroy();
});

test("with PostgreSQL down: 503 DATABASE_UNAVAILABLE, /health 503 at once, no parameters logged; serves again when it is back", async () => {
  pg = await startPrivatePostgres();
  t = await startTestApi("pglite", { DATABASE_URL: pg.url, LOG_LEVEL: "info" }, { process: true, captureStdout: true });
  const s = await t.createSession("outage");
  expect((await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).status).toBe(200);

  await pg.stop();
  await Bun.sleep(1100); // the session repository serves rows up to 1 s old from memory
  const unavailable = (res: { status: number; body: any }) => {
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ success: false, code: "DATABASE_UNAVAILABLE" });
    expect(typeof res.body.error).toBe("string");
  };
  unavailable(await t.call("POST", "/sessions/create", { body: { name: "during-outage" } }));
  unavailable(await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey }));
  unavailable(await t.call("GET", "/sessions"));
  const started = performance.now();
  const health = await t.call("GET", "/health", { key: null });
  expect(health.status).toBe(503);
  expect(health.body).toMatchObject({ success: false, status: "unavailable" });
  expect(performance.now() - started).toBeLessThan(3000);

  const lines = t.stdout().trim().split("\n");
  const records = lines.map((l) => JSON.parse(l));
  expect(records.some((r) => r.msg === "database unavailable" && r.level === "error")).toBe(true);
  const all = lines.join("\n");
  expect(all).not.toContain(hashKey(s.apiKey));
  expect(all).not.toContain("params:");
  expect(lines.every((l) => Buffer.byteLength(l) <= 8 * 1024)).toBe(true);

  await pg.start();
  await waitFor(async () => (await t!.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).status === 200, 20_000, "status to answer again");
  expect((await t.call("GET", "/health", { key: null })).status).toBe(200);
  expect((await t.call("GET", "/sessions")).body.sessions.map((x: { id: string }) => x.id)).toEqual([s.id]);
});
