// Every route of the contract over HTTP, on PGlite and on a real PostgreSQL server, with the
// real Podman runtime behind it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ChannelTokens, loadChannelKey } from "../../src/channel/tokens";
import { SessionRepository } from "../../src/db/session-repository";
import { backends, startTestApi, type TestApi } from "../support/api";

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function expectError(res: { status: number; body: any }, status: number, code?: string) {
  expect(res.status).toBe(status);
  expect(res.body.success).toBe(false);
  expect(typeof res.body.error).toBe("string");
  expect(res.body.code).toMatch(/^[A-Z_]+$/);
  if (code) expect(res.body.code).toBe(code);
  expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:\d+/); // no stack traces
}

for (const backend of backends) {
  describe(`sessions API on ${backend}`, () => {
    let t: TestApi;
    beforeAll(async () => {
      t = await startTestApi(backend);
    });
    afterAll(async () => {
      await t?.close();
    });

    test("health reports the database without a key", async () => {
      const res = await t.call("GET", "/health", { key: null });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ success: true, status: "ok", database: backend });
    });

    test("create answers the contract's shape and the key once; status and list show it", async () => {
      const res = await t.call("POST", "/sessions/create", {
        body: { name: "my-session", webhookUrl: "http://127.0.0.1:9/hook", metadata: { userId: "123", plan: "premium" } },
      });
      expect(res.status).toBe(201);
      expect(Object.keys(res.body).sort()).toEqual(["apiKey", "session", "success", "warning", "webhookSecret"]);
      expect(res.body.webhookSecret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(res.body.success).toBe(true);
      expect(res.body.apiKey).toMatch(/^wask_[0-9a-f]{48}$/);
      expect(res.body.warning).toBe("IMPORTANT: Save this API key securely! It will NOT be shown again.");
      expect(Object.keys(res.body.session).sort()).toEqual(["createdAt", "id", "name", "proxy", "state"]);
      expect(res.body.session.proxy).toBeNull();
      expect(res.body.session.id).toMatch(uuid);
      expect(res.body.session.name).toBe("my-session");
      expect(res.body.session.state).toBe("starting");
      expect(res.body.session.createdAt).toMatch(iso);
      const id = res.body.session.id;

      const status = await t.call("GET", `/sessions/${id}/status`, { key: res.body.apiKey });
      expect(status.status).toBe(200);
      expect(status.body.success).toBe(true);
      expect(status.body.session).toMatchObject({ id, name: "my-session", phoneNumber: null, createdAt: res.body.session.createdAt, metadata: { userId: "123", plan: "premium" } });
      expect(status.body.session.lastActivity).toMatch(iso);
      expect(JSON.stringify(status.body)).not.toContain(res.body.apiKey);

      const list = await t.call("GET", "/sessions");
      expect(list.status).toBe(200);
      const mine = list.body.sessions.find((s: any) => s.id === id);
      expect(mine).toMatchObject({ id, name: "my-session", phoneNumber: null, metadata: { userId: "123", plan: "premium" } });
      expect(JSON.stringify(list.body)).not.toContain("wask_");
    });

    test("the sandbox channel is not served on the REST port unless CHANNEL_URL says so", async () => {
      const s = await t.createSession();
      // The session's own launch when the API runs in this process; any launch otherwise (an API
      // in its own process, e.g. on Deno): a channel served here would answer 101 or 403, never 404.
      const launchId = t.inProcess ? (await new SessionRepository(t.api.database.db).byId(s.id))!.launchId! : crypto.randomUUID();
      const token = await new ChannelTokens(loadChannelKey(undefined, t.dataDir)).sign(s.id, launchId);
      const res = await fetch(`${t.url}/channel/${s.id}`, {
        headers: { authorization: `Bearer ${token}`, upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" },
      });
      expect(res.status).toBe(404);
      expect((await res.json()).code).toBe("ROUTE_NOT_FOUND");
    });

    test("message routes: 409 before ready, 400 for bad bodies and numbers, 404 for unknown messages, 403 across sessions", async () => {
      const s = await t.createSession();
      const other = await t.createSession();
      // Stopped, surely (a sandbox with no WhatsApp to reach may already be `disconnected`, where sends queue).
      expect((await t.call("POST", `/sessions/${s.id}/stop`)).status).toBe(200);
      const send = (body: unknown, key = s.apiKey) => t.call("POST", `/sessions/${s.id}/messages`, { key, body });
      expectError(await send({ to: "4915112340002", text: "hi" }), 409, "INVALID_SESSION_STATE");
      expectError(await send({ to: "12ab", text: "hi" }), 400, "INVALID_PHONE_NUMBER");
      expectError(await send({ to: "4915112340002" }), 400, "VALIDATION_ERROR");
      expectError(await send({ to: "4915112340002", text: "" }), 400, "VALIDATION_ERROR");
      expectError(await send({ to: "4915112340002", text: "x".repeat(65_537) }), 400, "VALIDATION_ERROR");
      expectError(await send({ to: "4915112340002", text: "hi", extra: 1 }), 400, "VALIDATION_ERROR");
      // PostgreSQL text cannot hold NUL: refused with the body, not by a failed insert.
      expectError(await send({ to: "4915112340002", text: "a\u0000b" }), 400, "VALIDATION_ERROR");
      expectError(await send({ to: "4915112340002", text: "hi", type: "image" }), 400, "VALIDATION_ERROR");
      expectError(await send({ to: "4915112340002", text: "hi", type: "text" }), 409, "INVALID_SESSION_STATE");
      expectError(await t.call("GET", `/sessions/${s.id}/messages/3EB0%00`, { key: s.apiKey }), 400, "VALIDATION_ERROR");
      expectError(await send({ to: "4915112340002", text: "hi" }, other.apiKey), 403, "FORBIDDEN");
      expectError(await t.call("GET", `/sessions/${s.id}/messages/3EB0NOPE`, { key: s.apiKey }), 404, "MESSAGE_NOT_FOUND");
      const history = await t.call("GET", `/sessions/${s.id}/chats/4915112340002/messages?limit=10`, { key: s.apiKey });
      expect(history.body).toEqual({ success: true, messages: [], nextCursor: null });
      expectError(await t.call("GET", `/sessions/${s.id}/chats/4915112340002/messages?before=nope`, { key: s.apiKey }), 400, "VALIDATION_ERROR");
      expectError(await t.call("GET", `/sessions/${s.id}/chats/not-a-chat/messages`, { key: s.apiKey }), 400, "INVALID_PHONE_NUMBER");
      // Nothing unread: nothing to send, and the chat stays at 0.
      expect((await t.call("POST", `/sessions/${s.id}/chats/4915112340002/read`, { key: s.apiKey })).body).toEqual({ success: true, read: 0 });
    });

    test("text the database cannot store and broken escapes are 400 or 404, never 500", async () => {
      const s = await t.createSession();
      const patch = (body: unknown) => t.call("PATCH", `/sessions/${s.id}`, { key: s.apiKey, body });
      expectError(await patch({ metadata: { note: "a\u0000b" } }), 400, "VALIDATION_ERROR");
      expect((await patch({ metadata: { "k\u0000": 1 } })).body).toMatchObject({ code: "VALIDATION_ERROR", field: "metadata" });
      expect((await patch({ metadata: { half: "\ud800" } })).body).toMatchObject({ code: "VALIDATION_ERROR", field: "metadata" });
      expect((await patch({ webhookUrl: "http://127.0.0.1:9/ho\u0000ok" })).body).toMatchObject({ code: "VALIDATION_ERROR", field: "webhookUrl" });
      const create = await t.call("POST", "/sessions/create", { body: { name: "nul-meta", metadata: { a: ["\u0000"] } } });
      expectError(create, 400, "VALIDATION_ERROR");
      expectError(await t.call("POST", `/sessions/${s.id}/webhook/deliveries/%00/retry`, { key: s.apiKey }), 400, "VALIDATION_ERROR");
      // The router cannot decode %ZZ: no session has that id.
      expectError(await t.call("GET", "/sessions/%ZZ/status"), 404, "SESSION_NOT_FOUND");
      expectError(await t.call("GET", "/sessions/%E0/status", { key: s.apiKey }), 403, "FORBIDDEN");
      expectError(await t.call("DELETE", "/sessions/%ZZ"), 404, "SESSION_NOT_FOUND");
      // Nothing was stored by any of them.
      const listed = (await t.call("GET", "/sessions")).body.sessions;
      expect(listed.find((x: any) => x.id === s.id).metadata).toBeNull();
      expect(listed.some((x: any) => x.name === "nul-meta")).toBe(false);
    });

    test("session ids are case-insensitive for the session's own key and the admin key alike", async () => {
      const s = await t.createSession();
      const upper = s.id.toUpperCase();
      expect((await t.call("GET", `/sessions/${upper}/status`, { key: s.apiKey })).body.session.id).toBe(s.id);
      expect((await t.call("GET", `/sessions/${upper}/status`)).body.session.id).toBe(s.id);
    });

    test("a duplicate name gets 409 and leaves the first session alone", async () => {
      const first = await t.createSession("dup-name");
      expectError(await t.call("POST", "/sessions/create", { body: { name: "dup-name" } }), 409, "SESSION_NAME_TAKEN");
      expect((await t.call("GET", `/sessions/${first.id}/status`, { key: first.apiKey })).status).toBe(200);
    });

    test("create validates its body and names the field", async () => {
      const cases: [unknown, string][] = [
        [{}, "name"],
        [{ name: "" }, "name"],
        [{ name: "x".repeat(65) }, "name"],
        [{ name: "has space" }, "name"],
        [{ name: "ünïcode" }, "name"],
        [{ name: 42 }, "name"],
        [{ name: "ok", webhookUrl: "ftp://example.invalid" }, "webhookUrl"],
        [{ name: "ok", webhookUrl: "not a url" }, "webhookUrl"],
        [{ name: "ok", metadata: [1, 2] }, "metadata"],
        // Nine levels of objects: clients reading metadata back must not meet deep nesting.
        [{ name: "ok", metadata: { a: { a: { a: { a: { a: { a: { a: { a: { a: 1 } } } } } } } } } }, "metadata"],
        [{ name: "ok", metadata: "text" }, "metadata"],
        [{ name: "ok", metadata: { big: "x".repeat(17 * 1024) } }, "metadata"],
        [{ name: "ok", surprise: true }, "surprise"],
      ];
      for (const [body, field] of cases) {
        const res = await t.call("POST", "/sessions/create", { body });
        expectError(res, 400, "VALIDATION_ERROR");
        expect(res.body.field).toBe(field);
        expect(res.body.error).toContain(field);
      }
      // None of them made a session.
      const list = await t.call("GET", "/sessions");
      expect(list.body.sessions.some((s: any) => s.name === "ok")).toBe(false);
    });

    test("malformed JSON, wrong media type and oversized bodies get 400, 415 and 413", async () => {
      expectError(await t.call("POST", "/sessions/create", { body: "{nope" }), 400, "INVALID_JSON");
      expectError(await t.call("POST", "/sessions/create", { body: "" }), 400, "INVALID_JSON");
      expectError(await t.call("POST", "/sessions/create", { body: "name=x", headers: { "content-type": "application/x-www-form-urlencoded" } }), 415, "UNSUPPORTED_MEDIA_TYPE");
      expectError(await t.call("POST", "/sessions/create", { body: JSON.stringify({ name: "x", pad: "y".repeat(1024 * 1024) }) }), 413, "PAYLOAD_TOO_LARGE");
    });

    test("a name of 64 allowed characters is accepted", async () => {
      const name = "A.b_c-9".padEnd(64, "z");
      const s = await t.createSession(name);
      expect(s.body.session.name).toBe(name);
    });

    test("unknown ids get 404 for the admin; unknown routes get 404 in the error shape", async () => {
      expectError(await t.call("GET", `/sessions/${crypto.randomUUID()}/status`), 404, "SESSION_NOT_FOUND");
      expectError(await t.call("GET", `/sessions/not-a-uuid/status`), 404, "SESSION_NOT_FOUND");
      expectError(await t.call("DELETE", `/sessions/${crypto.randomUUID()}`), 404, "SESSION_NOT_FOUND");
      expectError(await t.call("GET", `/nothing-here`), 404, "ROUTE_NOT_FOUND");
    });

    test("routes that need a live WhatsApp connection answer 409 naming the state", async () => {
      const s = await t.createSession();
      const st = (await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).body.session.state;
      for (const [method, path] of [
        ["GET", `/sessions/${s.id}/qr`],
        ["GET", `/sessions/${s.id}/check-number/4915112345678`],
      ] as const) {
        const res = await t.call(method, path, { key: s.apiKey });
        if (st !== "qr_ready") {
          expectError(res, 409, "INVALID_SESSION_STATE");
          expect(typeof res.body.state).toBe("string");
          expect(res.body.error).toContain(res.body.state);
        }
      }
      expectError(await t.call("GET", `/sessions/${s.id}/check-number/12ab`, { key: s.apiKey }), 400, "INVALID_PHONE_NUMBER");
      expectError(await t.call("GET", `/sessions/${s.id}/check-number/123`, { key: s.apiKey }), 400, "INVALID_PHONE_NUMBER");
    });

    test("contacts and chats answer empty lists from the database before any sync", async () => {
      const s = await t.createSession();
      expect((await t.call("GET", `/sessions/${s.id}/contacts`, { key: s.apiKey })).body).toEqual({ success: true, contacts: [] });
      expect((await t.call("GET", `/sessions/${s.id}/chats`, { key: s.apiKey })).body).toEqual({ success: true, chats: [] });
    });

    test("stop, start and delete follow the contract", async () => {
      const s = await t.createSession();
      const stop = await t.call("POST", `/sessions/${s.id}/stop`, { key: s.apiKey });
      expect(stop.status).toBe(200);
      expect(stop.body).toEqual({ success: true, message: "Session stopped successfully" });
      expect((await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).body.session.state).toBe("stopped");
      // Logging out a stopped session is refused, naming the state.
      const logout = await t.call("POST", `/sessions/${s.id}/logout`, { key: s.apiKey });
      expectError(logout, 409, "INVALID_SESSION_STATE");
      expect(logout.body.state).toBe("stopped");
      const start = await t.call("POST", `/sessions/${s.id}/start`, { key: s.apiKey });
      expect(start.body).toEqual({ success: true, message: "Session started successfully" });
      expect((await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).body.session.state).not.toBe("stopped");
      expectError(await t.call("POST", `/sessions/${s.id}/start`, { key: s.apiKey }), 409, "INVALID_SESSION_STATE");
      const del = await t.call("DELETE", `/sessions/${s.id}`, { key: s.apiKey });
      expect(del.body).toEqual({ success: true, message: "Session deleted successfully" });
      // The key died with its session.
      expectError(await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey }), 401, "INVALID_API_KEY");
      expectError(await t.call("GET", `/sessions/${s.id}/status`), 404, "SESSION_NOT_FOUND");
    });

    test("events list every state change with its reason, newest first", async () => {
      const s = await t.createSession();
      await t.call("POST", `/sessions/${s.id}/stop`, { key: s.apiKey });
      const res = await t.call("GET", `/sessions/${s.id}/events`, { key: s.apiKey });
      expect(res.status).toBe(200);
      const events: { from: string | null; to: string; reason: string | null; at: string }[] = res.body.events;
      const oldestFirst = [...events].reverse();
      expect(oldestFirst[0]).toMatchObject({ from: null, to: "creating" });
      expect(oldestFirst[1]).toMatchObject({ from: "creating", to: "starting" });
      expect(events[0]).toMatchObject({ to: "stopped" });
      // Each change starts where the one before it ended, and time never runs backwards.
      for (let i = 1; i < oldestFirst.length; i++) {
        expect(oldestFirst[i]!.from).toBe(oldestFirst[i - 1]!.to);
        expect(Date.parse(oldestFirst[i]!.at)).toBeGreaterThanOrEqual(Date.parse(oldestFirst[i - 1]!.at));
      }
    });

    test("lastActivity moves when the session is called", async () => {
      const s = await t.createSession();
      const before = (await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).body.session.lastActivity;
      await Bun.sleep(1100);
      await t.call("GET", `/sessions/${s.id}/contacts`, { key: s.apiKey });
      const after = (await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).body.session.lastActivity;
      expect(new Date(after).getTime()).toBeGreaterThan(new Date(before).getTime());
    });

    test("the OpenAPI document covers every route with the X-API-Key scheme and error responses", async () => {
      const res = await t.call("GET", "/swagger/json", { key: null });
      expect(res.status).toBe(200);
      const doc = res.body;
      expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: "apiKey", in: "header", name: "X-API-Key" });
      const expected: [string, string][] = [
        ["post", "/sessions/create"],
        ["get", "/sessions"],
        ["get", "/sessions/{id}/status"],
        ["get", "/sessions/{id}/qr"],
        ["post", "/sessions/{id}/stop"],
        ["post", "/sessions/{id}/start"],
        ["delete", "/sessions/{id}"],
        ["post", "/sessions/{id}/logout"],
        ["get", "/sessions/{id}/check-number/{phone}"],
        ["get", "/sessions/{id}/contacts"],
        ["get", "/sessions/{id}/chats"],
        ["post", "/sessions/{id}/pairing-code"],
        ["get", "/sessions/{id}/events"],
      ];
      for (const [method, path] of expected) {
        const op = doc.paths[path]?.[method];
        expect(op, `${method} ${path}`).toBeDefined();
        expect(op.security).toEqual([{ apiKey: [] }]);
        for (const code of ["401", "403"]) expect(op.responses[code], `${method} ${path} ${code}`).toBeDefined();
      }
      expect(doc.paths["/sessions/create"].post.requestBody).toBeDefined();
      const ui = await fetch(t.url + "/swagger");
      expect(ui.status).toBe(200);
      expect(ui.headers.get("content-type")).toContain("text/html");
    });
  });
}

describe("auth matrix", () => {
  let t: TestApi;
  let target: { id: string; apiKey: string };
  let other: { id: string; apiKey: string };
  beforeAll(async () => {
    t = await startTestApi("pglite");
    target = await t.createSession("target");
    other = await t.createSession("other");
  });
  afterAll(async () => {
    await t?.close();
  });

  type Route = { method: string; label: string; path: () => string; body?: unknown; sessionRoute: boolean; adminOnly?: boolean };
  const routes: Route[] = [
    { method: "POST", label: "/sessions/create", path: () => "/sessions/create", body: { name: `m-${crypto.randomUUID().slice(0, 8)}` }, sessionRoute: false, adminOnly: true },
    { method: "GET", label: "/sessions", path: () => "/sessions", sessionRoute: false, adminOnly: true },
    { method: "GET", label: "/sessions/{id}/status", path: () => `/sessions/${target.id}/status`, sessionRoute: true },
    { method: "GET", label: "/sessions/{id}/qr", path: () => `/sessions/${target.id}/qr`, sessionRoute: true },
    { method: "GET", label: "/sessions/{id}/check-number/4915112345678", path: () => `/sessions/${target.id}/check-number/4915112345678`, sessionRoute: true },
    { method: "GET", label: "/sessions/{id}/contacts", path: () => `/sessions/${target.id}/contacts`, sessionRoute: true },
    { method: "GET", label: "/sessions/{id}/chats", path: () => `/sessions/${target.id}/chats`, sessionRoute: true },
    { method: "GET", label: "/sessions/{id}/events", path: () => `/sessions/${target.id}/events`, sessionRoute: true },
    { method: "GET", label: "/sessions/{id}/groups", path: () => `/sessions/${target.id}/groups`, sessionRoute: true },
    { method: "GET", label: "/sessions/{id}/groups/{groupId}", path: () => `/sessions/${target.id}/groups/120363000000000001@g.us`, sessionRoute: true },
    { method: "POST", label: "/sessions/{id}/chats/{chatId}/presence", path: () => `/sessions/${target.id}/chats/4915112345678/presence`, body: { state: "composing" }, sessionRoute: true },
    { method: "POST", label: "/sessions/{id}/presence", path: () => `/sessions/${target.id}/presence`, body: { state: "available" }, sessionRoute: true },
    { method: "POST", label: "/sessions/{id}/groups/join", path: () => `/sessions/${target.id}/groups/join`, body: { code: "AbCdEf123" }, sessionRoute: true },
    { method: "POST", label: "/sessions/{id}/pairing-code", path: () => `/sessions/${target.id}/pairing-code`, body: { phoneNumber: "4915112345678" }, sessionRoute: true },
    { method: "POST", label: "/sessions/{id}/logout", path: () => `/sessions/${target.id}/logout`, sessionRoute: true },
    { method: "POST", label: "/sessions/{id}/stop", path: () => `/sessions/${target.id}/stop`, sessionRoute: true },
    { method: "POST", label: "/sessions/{id}/start", path: () => `/sessions/${target.id}/start`, sessionRoute: true },
    { method: "DELETE", label: "/sessions/{id}", path: () => `/sessions/${target.id}`, sessionRoute: true },
  ];

  const callers: { name: string; key: () => string | null; expect: (r: Route) => number | "allowed" }[] = [
    { name: "no key", key: () => null, expect: () => 401 },
    { name: "a malformed key", key: () => "hello", expect: () => 401 },
    { name: "an unknown session key", key: () => "wask_" + "0".repeat(48), expect: () => 401 },
    { name: "an unknown admin key", key: () => "wamk_" + "0".repeat(48), expect: () => 401 },
    { name: "another session's key", key: () => other.apiKey, expect: () => 403 },
    { name: "the session's own key", key: () => target.apiKey, expect: (r) => (r.adminOnly ? 403 : "allowed") },
    { name: "the admin key", key: () => t.adminKey, expect: () => "allowed" },
  ];

  // Mutating routes last, so every caller meets the session as it was made.
  for (const caller of callers) {
    for (const route of routes) {
      if (route.method === "DELETE" && caller.name === "the session's own key") continue; // the admin deletes at the end
      test(`${route.method} ${route.label} with ${caller.name}`, async () => {
        const res = await t.call(route.method, route.path(), { key: caller.key(), body: route.body });
        const expected = caller.expect(route);
        if (expected === "allowed") {
          // Authorized: whatever the state allows, never an auth error and never a 5xx.
          expect([401, 403, 404]).not.toContain(res.status);
          expect(res.status).toBeLessThan(500);
        } else {
          expect(res.status).toBe(expected);
          expect(res.body.success).toBe(false);
        }
      });
    }
  }
});
