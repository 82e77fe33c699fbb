// What operators and integrators meet: startup configuration errors, structured logs without
// secrets, self-service create with its limits (webhooks: webhooks.test.ts).
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startTestApi, type TestApi } from "../support/api";

const main = join(import.meta.dir, "../../src/main.ts");

describe("startup configuration", () => {
  test("a bad value stops the API with a message naming the variable", async () => {
    const proc = Bun.spawn(["bun", main], { env: { ...process.env, PORT: "eighty" }, stdout: "pipe", stderr: "pipe" });
    expect(await proc.exited).toBe(1);
    expect(await new Response(proc.stderr).text()).toContain("PORT must be a whole number");
  });
});

describe("without Podman", () => {
  test("the API starts, logs how to enable the socket, and answers create with 503 RUNTIME_UNAVAILABLE naming no host path", async () => {
    const t = await startTestApi("postgres", { PODMAN_SOCKET: "/tmp/no-podman-here/podman.sock", LOG_LEVEL: "info" }, { process: true, captureStdout: true });
    try {
      expect((await t.call("GET", "/health", { key: null })).status).toBe(200);
      const res = await t.call("POST", "/sessions/create", { body: { name: "no-engine" } });
      expect(res.status).toBe(503);
      expect(res.body.code).toBe("RUNTIME_UNAVAILABLE");
      // Callers see no host internals; the operator's log says what to do.
      expect(JSON.stringify(res.body)).not.toContain("/tmp/no-podman-here");
      expect((await t.call("GET", "/sessions")).body.sessions).toEqual([]);
      const log = t.stdout();
      expect(log).toContain("container runtime unavailable");
      expect(log).toContain("systemctl --user enable --now podman.socket");
      expect(log).toContain("podman system service");
    } finally {
      await t.stopApi();
      await t.close();
    }
  });
});

describe("logs", () => {
  test("one JSON object per line, with request id, method, path, status and duration, and never a key", async () => {
    const t = await startTestApi("postgres", { LOG_LEVEL: "info" }, { process: true, captureStdout: true });
    try {
      const s = await t.createSession("log-check");
      const echoed = await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey, headers: { "x-request-id": "req-abc" } });
      expect(echoed.headers.get("x-request-id")).toBe("req-abc");
      const refused = await t.call("GET", `/sessions/${s.id}/status`, { key: "wask_" + "f".repeat(48) });
      expect(refused.status).toBe(401);
      expect(refused.headers.get("x-request-id")).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/); // made by the API when none was sent
      await t.call("DELETE", `/sessions/${s.id}`);
      await t.stopApi();
      const lines = t.stdout().trim().split("\n");
      const records = lines.map((l) => JSON.parse(l)); // throws on any line that is not JSON
      const req = records.find((r) => r.msg === "request" && r.requestId === "req-abc");
      expect(req).toMatchObject({ level: "info", method: "GET", path: `/sessions/${s.id}/status`, status: 200 });
      expect(typeof req.durationMs).toBe("number");
      expect(records.some((r) => r.msg === "request" && r.status === 401)).toBe(true);
      expect(records.some((r) => r.msg === "session created" && r.sessionId === s.id)).toBe(true);
      const all = lines.join("\n");
      expect(all).not.toContain(s.apiKey);
      expect(all).not.toContain(t.adminKey);
      expect(all).not.toMatch(/wask_[0-9a-f]{48}|wamk_[0-9a-f]{48}|eyJ[\w-]+\.[\w-]+\./);
    } finally {
      await t.close();
    }
  });
});

describe("self-service create", () => {
  let t: TestApi;
  afterAll(async () => {
    await t?.close();
  });

  test("OPEN_SESSION_CREATE lets a caller without a key create, rate-limited per address; MAX_SESSIONS caps the total", async () => {
    t = await startTestApi("postgres", { OPEN_SESSION_CREATE: "true", CREATE_RATE_LIMIT_PER_MINUTE: "2", MAX_SESSIONS: "3" });
    const anon = (name: string) => t.call("POST", "/sessions/create", { key: null, body: { name } });
    expect((await anon("open-1")).status).toBe(201);
    expect((await anon("open-2")).status).toBe(201);
    const limited = await anon("open-3");
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe("RATE_LIMITED");
    // A wrong key is still a wrong key, open or not.
    expect((await t.call("POST", "/sessions/create", { key: "wamk_" + "0".repeat(48), body: { name: "x" } })).status).toBe(401);
    // The admin is not rate-limited, but the cap holds for everyone.
    expect((await t.call("POST", "/sessions/create", { body: { name: "admin-1" } })).status).toBe(201);
    const capped = await t.call("POST", "/sessions/create", { body: { name: "admin-2" } });
    expect(capped.status).toBe(429);
    expect(capped.body.code).toBe("SESSION_LIMIT_REACHED");
  });

  for (const backend of ["pglite", "postgres"] as const) {
    test(`${backend}: creates racing for the last places: MAX_SESSIONS holds exactly`, async () => {
      const capped = await startTestApi(backend, { MAX_SESSIONS: "3" });
      try {
        const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => capped.call("POST", "/sessions/create", { body: { name: `race-${i}` } })));
        expect(answers.filter((a) => a.status === 201)).toHaveLength(3);
        expect(answers.filter((a) => a.status !== 201).map((a) => `${a.status} ${a.body.code}`)).toEqual(Array(5).fill("429 SESSION_LIMIT_REACHED"));
        expect((await capped.call("GET", "/sessions")).body.sessions).toHaveLength(3);
      } finally {
        await capped.close();
      }
    });
  }

  test("each client address has its own allowance; a create that fails costs none; X-Forwarded-For counts only with TRUST_PROXY", async () => {
    const open = await startTestApi("postgres", { OPEN_SESSION_CREATE: "true", CREATE_RATE_LIMIT_PER_MINUTE: "2" });
    const proxied = await startTestApi("postgres", { OPEN_SESSION_CREATE: "true", CREATE_RATE_LIMIT_PER_MINUTE: "1", TRUST_PROXY: "true" });
    // curl binds its side to another loopback address (fetch cannot choose one).
    const create = async (t: TestApi, address: string, name: string, forwardedFor?: string) => {
      const args = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--interface", address, "-H", "content-type: application/json"];
      if (forwardedFor) args.push("-H", `x-forwarded-for: ${forwardedFor}`);
      const proc = Bun.spawn([...args, "-d", JSON.stringify({ name }), `${t.url}/sessions/create`], { stdout: "pipe" });
      return Number(await new Response(proc.stdout).text());
    };
    try {
      expect(await create(open, "127.0.0.2", "dup")).toBe(201);
      // Failed creates (the name is taken) give their unit back.
      for (let i = 0; i < 3; i++) expect(await create(open, "127.0.0.2", "dup")).toBe(409);
      expect(await create(open, "127.0.0.2", "second")).toBe(201);
      expect(await create(open, "127.0.0.2", "third")).toBe(429);
      // Another address has its own allowance; a made-up X-Forwarded-For buys none.
      expect(await create(open, "127.0.0.3", "other-1", "198.51.100.1")).toBe(201);
      expect(await create(open, "127.0.0.3", "other-2", "198.51.100.2")).toBe(201);
      expect(await create(open, "127.0.0.3", "other-3", "198.51.100.3")).toBe(429);
      // Behind a proxy, every client arrives from the proxy; the entry it added tells them apart.
      expect(await create(proxied, "127.0.0.4", "p-1", "203.0.113.7")).toBe(201);
      expect(await create(proxied, "127.0.0.4", "p-2", "203.0.113.7")).toBe(429);
      expect(await create(proxied, "127.0.0.4", "p-3", "198.51.100.9, 203.0.113.8")).toBe(201);
    } finally {
      await open.close();
      await proxied.close();
    }
  });

  test("without OPEN_SESSION_CREATE, create needs the admin key", async () => {
    const closed = await startTestApi("postgres");
    try {
      expect((await closed.call("POST", "/sessions/create", { key: null, body: { name: "x" } })).status).toBe(401);
    } finally {
      await closed.close();
    }
  });
});
