// The OpenAPI document at /swagger/json, read from a running API: it validates as OpenAPI 3.0.3,
// says what the API really takes and answers, covers every route, and a client generated from
// it (openapi-typescript + openapi-fetch) type-checks and drives the README's API tour.
import SwaggerParser from "@apidevtools/swagger-parser";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startTestApi, type TestApi } from "../support/api";

const root = resolve(import.meta.dir, "../..");
const methods = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

type Json = Record<string, any>;

/** Runs a command without blocking this process, which serves the API the command may call. */
async function run(cmd: string[], cwd: string): Promise<{ exit: number; output: string }> {
  const proc = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exit] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { exit, output: stdout + stderr };
}

function operations(doc: Json): { method: string; path: string; op: Json }[] {
  return Object.entries<Json>(doc.paths).flatMap(([path, item]) =>
    Object.entries<Json>(item)
      .filter(([method]) => methods.includes(method))
      .map(([method, op]) => ({ method, path, op })),
  );
}

describe("OpenAPI document", () => {
  let t: TestApi;
  let doc: Json;
  let work: string;

  beforeAll(async () => {
    t = await startTestApi("pglite");
    const res = await fetch(`${t.url}/swagger/json`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    doc = await res.json();
    work = mkdtempSync(join(tmpdir(), "wa-openapi-"));
  });
  afterAll(async () => {
    await t?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("validates as OpenAPI 3.0.3 with swagger-parser, with no JSON Schema that 3.0 lacks", async () => {
    expect(doc.openapi).toBe("3.0.3");
    // validate() throws with every schema error listed; it dereferences its argument, so a copy.
    await SwaggerParser.validate(structuredClone(doc) as never);
    const text = JSON.stringify(doc);
    for (const keyword of ["patternProperties", '"const"', '"type":"null"', '"examples"', '"$id"']) expect(text).not.toContain(keyword);
  });

  test("request and response bodies are application/json (a send also takes multipart/form-data; the event stream's 200 is text/event-stream)", () => {
    const bodies = operations(doc).filter(({ op }) => op.requestBody);
    expect(bodies.map(({ method, path }) => `${method} ${path}`).sort()).toEqual(
      [
        "patch /sessions/{id}",
        "post /sessions/create",
        "post /sessions/{id}/messages",
        "post /sessions/{id}/pairing-code",
        "post /sessions/{id}/groups",
        "post /sessions/{id}/groups/join",
        "patch /sessions/{id}/groups/{groupId}",
        "post /sessions/{id}/groups/{groupId}/participants",
        "post /sessions/{id}/messages/{messageId}/reactions",
        "post /sessions/{id}/move",
        "patch /sessions/{id}/messages/{messageId}",
        "post /sessions/{id}/chats/{chatId}/presence",
        "post /sessions/{id}/presence",
      ].sort(),
    );
    for (const { method, path, op } of bodies) {
      // Sending a message also takes a form with the file as its `file` part.
      const form = method === "post" && path === "/sessions/{id}/messages";
      expect(Object.keys(op.requestBody.content)).toEqual(form ? ["application/json", "multipart/form-data"] : ["application/json"]);
      expect(op.requestBody.content["application/json"].schema.type).toBe("object");
      if (form) {
        const schema = op.requestBody.content["multipart/form-data"].schema;
        expect(schema.properties.file).toMatchObject({ type: "string", format: "binary" });
        expect(schema.required).toEqual(expect.arrayContaining(["file", "to", "type"]));
        // The JSON body's file is base64 or a URL.
        expect(op.requestBody.content["application/json"].schema.properties.media.anyOf.map((s: Json) => Object.keys(s.properties)[0]).sort()).toEqual(["data", "url"]);
      }
    }
    for (const { method, path, op } of operations(doc)) {
      for (const [status, response] of Object.entries<Json>(op.responses)) {
        const stream = method === "get" && path === "/events" && status === "200";
        for (const type of Object.keys(response.content ?? {})) expect(type).toBe(stream ? "text/event-stream" : "application/json");
      }
    }
  });

  test("every response has a description; errors have the shape {success:false,error,code}", () => {
    for (const { method, path, op } of operations(doc)) {
      expect(Object.keys(op.responses).length).toBeGreaterThan(0);
      for (const [status, response] of Object.entries<Json>(op.responses)) {
        const where = `${method} ${path} ${status}`;
        expect({ where, description: typeof response.description === "string" && response.description.length > 0 }).toEqual({ where, description: true });
        if (Number(status) < 400 || path === "/health") continue;
        const schema = response.content["application/json"].schema;
        expect({ where, required: [...schema.required].sort() }).toEqual({ where, required: ["code", "error", "success"] });
        expect(schema.properties.success.enum).toEqual([false]);
        expect(schema.properties.error.type).toBe("string");
        expect(schema.properties.code.type).toBe("string");
      }
    }
    // Described by what they carry, not a bare status text.
    const create = doc.paths["/sessions/create"].post.responses;
    expect(create["401"].description).toContain("MISSING_API_KEY");
    expect(create["415"].description).toContain("UNSUPPORTED_MEDIA_TYPE");
  });

  test("every webhook event is a callback of create and PATCH, with its body and the Standard Webhooks headers", () => {
    const events = [
      "session.state",
      "session.qr",
      "session.contacts",
      "session.chats",
      "message.received",
      "message.status",
      "group.joined",
      "group.update",
      "group.participants",
      "group.left",
      "message.reaction",
      "message.edited",
      "message.revoked",
      "poll.vote",
      "presence.update",
    ];
    for (const op of [doc.paths["/sessions/create"].post, doc.paths["/sessions/{id}"].patch]) {
      expect(Object.keys(op.callbacks).sort()).toEqual([...events].sort());
      for (const event of events) {
        const post = op.callbacks[event]["{$request.body#/webhookUrl}"].post;
        expect(post.parameters.map((p: Json) => p.name)).toEqual(["webhook-id", "webhook-timestamp", "webhook-signature"]);
        const schema = post.requestBody.content["application/json"].schema;
        expect(schema.properties.event.enum).toEqual([event]);
        expect(schema.required).toEqual(expect.arrayContaining(["id", "event", "sessionId", "sessionName", "timestamp", "data"]));
      }
    }
    const received = doc.paths["/sessions/create"].post.callbacks["message.received"]["{$request.body#/webhookUrl}"].post;
    expect(Object.keys(received.requestBody.content["application/json"].schema.properties.data.properties).sort()).toEqual(
      ["author", "caption", "chatId", "contacts", "editedAt", "fromMe", "id", "location", "media", "mentions", "poll", "reactions", "replyTo", "revoked", "status", "text", "timestamp", "type"],
    );
  });

  test("the send route declares its Idempotency-Key header", () => {
    const send = doc.paths["/sessions/{id}/messages"].post;
    expect(send.parameters.find((p: Json) => p.in === "header" && p.name.toLowerCase() === "idempotency-key")).toMatchObject({ required: false });
  });

  test("every route of the app is in the document, with its path parameters declared, and nothing else", () => {
    const served = t.api.routes
      .filter((r) => !r.hidden)
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}")}`)
      .sort();
    const documented = operations(doc)
      .map(({ method, path }) => `${method} ${path}`)
      .sort();
    expect(served.length).toBeGreaterThan(20);
    expect(documented).toEqual(served);
    for (const { method, path, op } of operations(doc)) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const declared = (op.parameters ?? []).filter((p: Json) => p.in === "path");
      expect({ at: `${method} ${path}`, path: declared.map((p: Json) => p.name).sort() }).toEqual({ at: `${method} ${path}`, path: [...names].sort() });
      for (const p of declared) {
        expect(p.required).toBe(true);
        expect(p.schema.type).toBe("string");
      }
      // Authenticated routes say so; only liveness and readiness are open.
      if (path !== "/health" && path !== "/ready") expect(op.security).toEqual([{ apiKey: [] }]);
    }
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: "apiKey", in: "header", name: "X-API-Key" });
    // The UI and the document itself are not API routes.
    expect(Object.keys(doc.paths).some((p) => p.startsWith("/swagger"))).toBe(false);
  });

  test("a client generated from it type-checks and runs the README's API tour", async () => {
    const types = join(work, "api.d.ts");
    const gen = await run(["bunx", "openapi-typescript", `${t.url}/swagger/json`, "-o", types], root);
    expect({ exit: gen.exit, output: gen.exit === 0 ? "" : gen.output }).toEqual({ exit: 0, output: "" });
    symlinkSync(join(root, "node_modules"), join(work, "node_modules"));
    writeFileSync(
      join(work, "tour.ts"),
      `import createClient from "openapi-fetch";
import type { paths } from "./api";

export async function tour(baseUrl: string, adminKey: string) {
  const client = createClient<paths>({ baseUrl });
  const admin = { "X-API-Key": adminKey };
  const created = await client.POST("/sessions/create", { headers: admin, body: { name: "tour-" + Date.now(), metadata: { plan: "premium" } } });
  if (!created.data) throw new Error("create: " + JSON.stringify(created.error));
  const id: string = created.data.session.id;
  const key = { "X-API-Key": created.data.apiKey };
  const path = { id };
  const status = await client.GET("/sessions/{id}/status", { headers: key, params: { path } });
  const list = await client.GET("/sessions", { headers: admin });
  const stop = await client.POST("/sessions/{id}/stop", { headers: key, params: { path } });
  const stopped = await client.GET("/sessions/{id}/status", { headers: key, params: { path } });
  const start = await client.POST("/sessions/{id}/start", { headers: key, params: { path } });
  const denied = await client.GET("/sessions", { headers: key });
  const deleted = await client.DELETE("/sessions/{id}", { headers: key, params: { path } });
  const gone = await client.GET("/sessions/{id}/status", { headers: admin, params: { path } });
  // The types are the document's: a wrong field or a missing parameter does not compile.
  // @ts-expect-error "nam" is not a field of the create body
  void (() => client.POST("/sessions/create", { headers: admin, body: { nam: "x" } }));
  // @ts-expect-error the status route needs its {id}
  void (() => client.GET("/sessions/{id}/status", { headers: key }));
  const state: "creating" | "starting" | "qr_ready" | "connecting" | "ready" | "disconnected" | "failed" | "stopped" | "logged_out" | undefined = stopped.data?.session.state;
  const metadata: Record<string, unknown> | null | undefined = status.data?.session.metadata;
  return {
    created: { status: created.response.status, state: created.data.session.state, key: created.data.apiKey },
    status: { status: status.response.status, name: status.data?.session.name, metadata },
    listed: list.data?.sessions.some((s) => s.id === id),
    stop: { status: stop.response.status, message: stop.data?.message },
    stopped: state,
    start: { status: start.response.status, message: start.data?.message },
    denied: { status: denied.response.status, code: denied.error?.code },
    deleted: { status: deleted.response.status, message: deleted.data?.message },
    gone: { status: gone.response.status, code: gone.error?.code },
  };
}
`,
    );
    const tsc = await run(
      ["bunx", "tsc", "--noEmit", "--strict", "--skipLibCheck", "--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler", "--lib", "es2022,dom", join(work, "tour.ts")],
      work,
    );
    expect(tsc).toEqual({ exit: 0, output: "" });

    const { tour } = await import(join(work, "tour.ts"));
    const result = await tour(t.url, t.adminKey);
    expect(result).toEqual({
      created: { status: 201, state: "starting", key: expect.stringMatching(/^wask_[0-9a-f]{48}$/) },
      status: { status: 200, name: expect.stringMatching(/^tour-/), metadata: { plan: "premium" } },
      listed: true,
      stop: { status: 200, message: "Session stopped successfully" },
      stopped: "stopped",
      start: { status: 200, message: "Session started successfully" },
      denied: { status: 403, code: "FORBIDDEN" },
      deleted: { status: 200, message: "Session deleted successfully" },
      gone: { status: 404, code: "SESSION_NOT_FOUND" },
    });
  });
});
