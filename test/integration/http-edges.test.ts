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
