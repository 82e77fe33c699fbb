// Answers at the edge of the HTTP layer, sent over raw TCP: a body past any limit still gets
// 401 before 413 and both in the API's JSON shape, and a deeply nested body a 400, not a 500.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { MAX_BODY_BYTES, MAX_JSON_DEPTH } from "../../src/http/json-body";
import { startTestApi, type TestApi } from "../support/api";
import { rawRequest } from "../support/raw-http";

let t: TestApi;
let port: number;
beforeAll(async () => {
  t = await startTestApi("pglite");
  port = Number(new URL(t.url).port);
});
afterAll(async () => {
  await t?.close();
});

const MiB = 1024 * 1024;
// "Host: localhost": Elysia 1.4 finds the path from index 11 of the URL, so a host shorter than
// four characters would route "/sessions/create" as "/create".
const create = (bytes: number, key?: string) =>
  `POST /sessions/create HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n${key ? `X-API-Key: ${key}\r\n` : ""}Content-Length: ${bytes}\r\n\r\n`;

describe("bodies past the limits", () => {
  test("an unauthenticated 20 MiB body gets 401 MISSING_API_KEY in the JSON shape, not Bun's bare 413", async () => {
    const res = await rawRequest(port, create(20 * MiB), 20 * MiB);
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({ success: false, code: "MISSING_API_KEY" });
  });

  test("an admin's 20 MiB body gets 413 PAYLOAD_TOO_LARGE in the JSON shape", async () => {
    const res = await rawRequest(port, create(20 * MiB, t.adminKey), 20 * MiB);
    expect(res.status).toBe(413);
    expect(res.headers["content-type"]).toContain("application/json");
    expect(JSON.parse(res.body)).toMatchObject({ success: false, code: "PAYLOAD_TOO_LARGE", error: `The request body is larger than ${MAX_BODY_BYTES} bytes` });
  });

  test("a 50,000-deep body gets 400 naming the depth limit, and nothing is stored", async () => {
    const depth = 50_000;
    const res = await t.call("POST", "/sessions/create", { body: `{"name":"deep","metadata":${"[".repeat(depth)}${"]".repeat(depth)}}` });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ success: false, code: "INVALID_JSON" });
    expect(res.body.error).toContain(`${MAX_JSON_DEPTH} levels`);
    expect((await t.call("GET", "/sessions")).body.sessions).toEqual([]);
  });
});

describe("what a client sends is bounded, named and never altered", () => {
  const small = (res: { body: unknown }) => JSON.stringify(res.body).length;

  test("a 900 KB webhookUrl, a 500 KB event name or a 100 KB unknown field is a 400 that echoes at most an excerpt", async () => {
    const s = await t.createSession();
    const patch = (body: unknown) => t.call("PATCH", `/sessions/${s.id}`, { key: s.apiKey, body });
    const longUrl = await patch({ webhookUrl: `http://127.0.0.1:9/${"a".repeat(900_000)}` });
    expect(longUrl.status).toBe(400);
    expect(longUrl.body).toMatchObject({ code: "VALIDATION_ERROR", field: "webhookUrl" });
    expect(small(longUrl)).toBeLessThan(1000);
    // 2,048 characters is the longest URL taken, at create as at PATCH.
    const url2048 = `http://127.0.0.1:9/${"a".repeat(2048 - 19)}`;
    expect((await patch({ webhookUrl: url2048 })).status).toBe(200);
    expect((await patch({ webhookUrl: url2048 + "a" })).body).toMatchObject({ code: "VALIDATION_ERROR", field: "webhookUrl" });
    expect((await t.call("POST", "/sessions/create", { body: { name: "long-url", webhookUrl: url2048 + "a" } })).body).toMatchObject({ field: "webhookUrl" });
    const longEvent = await patch({ webhookEvents: ["e".repeat(500_000)] });
    expect(longEvent.body).toMatchObject({ code: "VALIDATION_ERROR" });
    expect(small(longEvent)).toBeLessThan(1000);
    const unknownEvent = await patch({ webhookEvents: ["message.nope" + "x".repeat(50)] });
    expect(unknownEvent.body).toMatchObject({ code: "VALIDATION_ERROR", field: "webhookEvents" });
    const longKey = await patch({ ["k".repeat(100_000)]: 1 });
    expect(longKey.body).toMatchObject({ code: "VALIDATION_ERROR" });
    expect(small(longKey)).toBeLessThan(1000);
    const longId = await t.call("GET", `/sessions/${"f".repeat(5000)}/status`);
    expect(longId.status).toBe(404);
    expect(small(longId)).toBeLessThan(1000);
    // Nothing of it was stored.
    expect((await t.call("GET", "/sessions")).body.sessions.some((x: any) => x.name === "long-url")).toBe(false);
  });

  test("out-of-range query parameters name the parameter, not the body", async () => {
    const s = await t.createSession();
    for (const q of ["limit=201", "limit=0", "limit=abc"]) {
      const res = await t.call("GET", `/sessions/${s.id}/chats/4915112340002/messages?${q}`, { key: s.apiKey });
      expect({ q, status: res.status, body: res.body }).toMatchObject({ q, status: 400, body: { code: "VALIDATION_ERROR", field: "limit" } });
    }
    const deliveries = await t.call("GET", `/sessions/${s.id}/webhook/deliveries?limit=501`, { key: s.apiKey });
    expect(deliveries.body).toMatchObject({ code: "VALIDATION_ERROR", field: "limit" });
  });

  test("a Host header shorter than four characters routes by the path like any other", async () => {
    for (const host of ["x", "ab", "abc", "localhost"]) {
      const health = await rawRequest(port, `GET /health HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect({ host, status: health.status }).toEqual({ host, status: 200 });
      const list = await rawRequest(port, `GET /sessions HTTP/1.1\r\nHost: ${host}\r\nX-API-Key: ${t.adminKey}\r\nConnection: close\r\n\r\n`);
      expect({ host, status: list.status, success: JSON.parse(list.body).success }).toEqual({ host, status: 200, success: true });
      const body = '{"name":"short-host-' + host + '"}';
      const create = await rawRequest(
        port,
        `POST /sessions/create HTTP/1.1\r\nHost: ${host}\r\nX-API-Key: ${t.adminKey}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      );
      expect({ host, status: create.status }).toEqual({ host, status: 201 });
    }
  });

  test("malformed recipients are 400 INVALID_PHONE_NUMBER up front; both forms of group id pass the check", async () => {
    const s = await t.createSession();
    await t.call("POST", `/sessions/${s.id}/stop`);
    const send = (to: string) => t.call("POST", `/sessions/${s.id}/messages`, { key: s.apiKey, body: { to, text: "hi" } });
    for (const to of ["-----@g.us", "1-2-3@g.us", "12345-@g.us", "@g.us", "123@s.whatsapp.net", "4915112340002@c.us"]) {
      const res = await send(to);
      expect({ to, status: res.status, code: res.body.code }).toEqual({ to, status: 400, code: "INVALID_PHONE_NUMBER" });
    }
    // Well-formed: past the check, to the state (a stopped session sends nothing).
    for (const to of ["120363041234567890@g.us", "4915112340002-1600000000@g.us", "4915112340002@s.whatsapp.net"]) {
      expect((await send(to)).body.code).toBe("INVALID_SESSION_STATE");
    }
    const history = await t.call("GET", `/sessions/${s.id}/messages/x`, { key: s.apiKey });
    expect(history.status).toBe(404);
  });

  test("a lone surrogate or invalid UTF-8 in text is 400 VALIDATION_ERROR naming the field, never stored altered", async () => {
    const s = await t.createSession();
    await t.call("POST", `/sessions/${s.id}/stop`);
    const surrogate = await t.call("POST", `/sessions/${s.id}/messages`, { key: s.apiKey, body: '{"to":"4915112340002","text":"half \\ud800 a pair"}' });
    expect(surrogate.status).toBe(400);
    expect(surrogate.body).toMatchObject({ code: "VALIDATION_ERROR", field: "text" });
    // Raw bytes that are not UTF-8 (0xC3 0x28), as a client with a broken encoder sends them.
    const bytes = Buffer.concat([Buffer.from('{"to":"4915112340002","text":"bad '), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const res = await fetch(`${t.url}/sessions/${s.id}/messages`, { method: "POST", headers: { "x-api-key": s.apiKey, "content-type": "application/json" }, body: bytes });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: "VALIDATION_ERROR", field: "text" });
    // The same in metadata and in a key.
    expect((await t.call("PATCH", `/sessions/${s.id}`, { key: s.apiKey, body: '{"metadata":{"note":"\\udc00"}}' })).body).toMatchObject({ code: "VALIDATION_ERROR", field: "metadata" });
    expect((await t.call("PATCH", `/sessions/${s.id}`, { key: s.apiKey, body: '{"metadata":{"\\ud800":1}}' })).body).toMatchObject({ code: "VALIDATION_ERROR" });
    // A well-formed pair (an emoji, escaped or not) is text like any other.
    expect((await t.call("POST", `/sessions/${s.id}/messages`, { key: s.apiKey, body: '{"to":"4915112340002","text":"\\ud83d\\udc4d 👍"}' })).body.code).toBe("INVALID_SESSION_STATE");
  });
});
