// GET /ready: 200 only when the database, the Podman socket and the sandbox image are all there;
// otherwise 503 NOT_READY naming what failed. GET /health stays liveness (the database only).
import { afterAll, describe, expect, test } from "bun:test";
import { startTestApi, type TestApi } from "../support/api";

describe("GET /ready", () => {
  const apis: TestApi[] = [];
  const start = async (env: Record<string, string> = {}) => {
    const t = await startTestApi("postgres", env);
    apis.push(t);
    return t;
  };
  afterAll(async () => {
    for (const t of apis) await t.close();
  });

  test("200 when the database, Podman and the sandbox image answer; no key needed", async () => {
    const t = await start();
    const res = await t.call("GET", "/ready", { key: null });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, database: "ok", runtime: "ok", image: "ok", egress: "ok" });
  });

  test("503 when the egress gateway does not answer (sandboxes would have no way out)", async () => {
    const t = await startTestApi("postgres", {}, { gateway: false });
    apis.push(t);
    const res = await t.call("GET", "/ready", { key: null });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ code: "NOT_READY", database: "ok", runtime: "ok", image: "ok", egress: "unavailable" });
  });

  test("503 runtime unavailable when the Podman socket is nowhere; /health stays 200", async () => {
    const t = await start({ PODMAN_SOCKET: "/nonexistent/podman.sock" });
    const res = await t.call("GET", "/ready", { key: null });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ success: false, code: "NOT_READY", database: "ok", runtime: "unavailable", image: "unavailable" });
    expect(typeof res.body.error).toBe("string");
    expect((await t.call("GET", "/health", { key: null })).status).toBe(200);
  });

  test("503 image missing when SANDBOX_IMAGE names no image", async () => {
    const t = await start({ SANDBOX_IMAGE: "localhost/wa-sandbox:missing" });
    const res = await t.call("GET", "/ready", { key: null });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ success: false, code: "NOT_READY", database: "ok", runtime: "ok", image: "missing" });
  });

  test("503 database unavailable once the database is gone", async () => {
    const t = await start();
    await t.api.database.close();
    const res = await t.call("GET", "/ready", { key: null });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ success: false, code: "NOT_READY", database: "unavailable", runtime: "ok", image: "ok" });
  });
});
