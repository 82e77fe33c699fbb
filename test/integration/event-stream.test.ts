// GET /events, the live event stream: the same keys as the REST routes, each key's scope (a
// session key never hears another session), bounded per key, and no stream outlives its client,
// its session or the API.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApi, type TestApi } from "../support/api";
import { waitFor } from "../support/env";
import { openSse, type SseStream } from "../support/sse";

describe("GET /events", () => {
  let t: TestApi;
  const opened: SseStream[] = [];
  const open = async (key: string | null) => {
    const s = await openSse(`${t.url}/events`, key);
    opened.push(s);
    return s;
  };

  beforeAll(async () => {
    t = await startTestApi("pglite");
  });
  afterAll(async () => {
    for (const s of opened) s.close();
    await t?.close();
  });

  test("no key, a malformed key or an unknown key: 401 in the API's error shape", async () => {
    for (const [key, code] of [
      [null, "MISSING_API_KEY"],
      ["hello", "INVALID_API_KEY"],
      ["wask_" + "0".repeat(48), "INVALID_API_KEY"],
      ["wamk_" + "0".repeat(48), "INVALID_API_KEY"],
    ] as const) {
      const res = await fetch(`${t.url}/events`, { headers: key === null ? {} : { "x-api-key": key } });
      expect(res.status).toBe(401);
      expect(res.headers.get("content-type")).toContain("application/json");
      expect(await res.json()).toMatchObject({ success: false, code });
    }
    // The key is never taken from the URL.
    const inQuery = await fetch(`${t.url}/events?apiKey=${t.adminKey}&key=${t.adminKey}`);
    expect(inQuery.status).toBe(401);
    await inQuery.text();
  });

  test("HEAD answers GET's status and headers at once and holds no stream", async () => {
    const head = (key: string | null) =>
      fetch(`${t.url}/events`, { method: "HEAD", headers: key === null ? {} : { "x-api-key": key }, signal: AbortSignal.timeout(5000) });
    expect((await head(null)).status).toBe(401);
    // More HEADs than a key may hold streams: none is counted.
    for (let i = 0; i < 12; i++) {
      const res = await head(t.adminKey);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    }
    const s = await open(t.adminKey);
    expect(s.status).toBe(200);
    s.close();
  });

  test("the admin hears every session: its state changes with names and reasons", async () => {
    const admin = await open(t.adminKey);
    expect(admin.status).toBe(200);
    expect(admin.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(admin.headers.get("cache-control")).toBe("no-store");
    expect((await admin.next((e) => e.event === "ready")).data).toEqual({ scope: "admin" });

    const a = await t.createSession("stream-a");
    const creating = await admin.next((e) => e.event === "session.state" && e.data.sessionId === a.id && e.data.data.state === "creating");
    expect(creating.data).toMatchObject({ event: "session.state", sessionId: a.id, sessionName: "stream-a", data: { previousState: null, reason: null, phoneNumber: null } });
    expect(new Date(creating.data.timestamp).getTime()).toBeGreaterThan(Date.now() - 60_000);
    const starting = await admin.next((e) => e.event === "session.state" && e.data.sessionId === a.id && e.data.data.state === "starting");
    expect(starting.data.data.previousState).toBe("creating");
    expect(typeof starting.data.data.lastActivity).toBe("string");

    await t.call("POST", `/sessions/${a.id}/stop`);
    const stopped = await admin.next((e) => e.event === "session.state" && e.data.sessionId === a.id && e.data.data.state === "stopped");
    expect(stopped.data.data.reason).toBe("stopped by request");
    admin.close();
  });

  test("a session key hears only its own session, and its calls as activity", async () => {
    const a = await t.createSession("scope-a");
    const b = await t.createSession("scope-b");
    const admin = await open(t.adminKey);
    await admin.next((e) => e.event === "ready");
    const mine = await open(a.apiKey);
    expect((await mine.next((e) => e.event === "ready")).data).toEqual({ scope: "session", sessionId: a.id });

    // Another session's changes: the admin hears them, the session key does not.
    await t.call("POST", `/sessions/${b.id}/stop`, { key: b.apiKey });
    await admin.next((e) => e.data.sessionId === b.id && e.data.data?.state === "stopped", 15_000, "b stopped on the admin stream");
    await t.call("POST", `/sessions/${a.id}/stop`, { key: a.apiKey });
    await mine.next((e) => e.data.sessionId === a.id && e.data.data?.state === "stopped", 15_000, "a stopped on a's stream");
    await Bun.sleep(1100); // past the once-a-second activity write
    await t.call("GET", `/sessions/${b.id}/status`, { key: b.apiKey });
    await t.call("GET", `/sessions/${a.id}/status`, { key: a.apiKey });
    const activity = await mine.next((e) => e.event === "session.activity", 10_000, "a's activity");
    expect(activity.data).toMatchObject({ sessionId: a.id, sessionName: "scope-a" });
    await admin.next((e) => e.event === "session.activity" && e.data.sessionId === b.id, 10_000, "b's activity on the admin stream");

    expect(mine.events.length).toBeGreaterThan(2);
    expect(mine.events.filter((e) => e.event !== "ready").every((e) => e.data.sessionId === a.id)).toBe(true);
    expect(JSON.stringify(mine.events)).not.toContain(b.id);
    expect(JSON.stringify(mine.events)).not.toContain("scope-b");
  });

  test("deleting the session ends its key's stream after session.deleted; the admin's stream goes on", async () => {
    const s = await t.createSession("stream-deleted");
    const admin = await open(t.adminKey);
    await admin.next((e) => e.event === "ready");
    const mine = await open(s.apiKey);
    await mine.next((e) => e.event === "ready");
    expect((await t.call("DELETE", `/sessions/${s.id}`, { key: s.apiKey })).status).toBe(200);
    expect((await mine.next((e) => e.event === "session.deleted")).data).toMatchObject({ sessionId: s.id });
    await Promise.race([mine.ended, Bun.sleep(5000).then(() => Promise.reject(new Error("the deleted session's stream did not end")))]);
    await admin.next((e) => e.event === "session.deleted" && e.data.sessionId === s.id);
    // The key is gone with its session.
    const again = await fetch(`${t.url}/events`, { headers: { "x-api-key": s.apiKey } });
    expect(again.status).toBe(401);
    await again.text();
  });

  test("at most 10 streams per key (429 TOO_MANY_STREAMS); streams whose client left are released", async () => {
    const s = await t.createSession("stream-limit");
    const streams: SseStream[] = [];
    for (let i = 0; i < 10; i++) {
      const st = await open(s.apiKey);
      expect(st.status).toBe(200);
      await st.next((e) => e.event === "ready");
      streams.push(st);
    }
    const refused = await fetch(`${t.url}/events`, { headers: { "x-api-key": s.apiKey } });
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ success: false, code: "TOO_MANY_STREAMS" });
    // Another key has its own allowance.
    const admin = await open(t.adminKey);
    expect(admin.status).toBe(200);

    // The clients go away: every one of their streams is released, so ten open again.
    for (const st of streams) st.close();
    const reopened = await waitFor(async () => {
      const st = await openSse(`${t.url}/events`, s.apiKey);
      if (st.status === 200) return st;
      return undefined;
    }, 10_000, "a stream slot after the clients left");
    opened.push(reopened);
    for (let i = 0; i < 9; i++) {
      const st = await open(s.apiKey);
      expect(st.status).toBe(200);
    }
  });

  test("the stream is documented in the OpenAPI document as text/event-stream with the key scheme", async () => {
    const doc = (await t.call("GET", "/swagger/json", { key: null })).body;
    const op = doc.paths["/events"]?.get;
    expect(op).toBeDefined();
    expect(op.security).toEqual([{ apiKey: [] }]);
    expect(Object.keys(op.responses[200].content)).toEqual(["text/event-stream"]);
    expect(op.responses[401].content["application/json"]).toBeDefined();
    expect(op.responses[429]).toBeDefined();
  });

  test("stopping the API ends open streams at once instead of waiting for them", async () => {
    const st = await open(t.adminKey);
    await st.next((e) => e.event === "ready");
    const started = Date.now();
    await t.stopApi("SIGTERM");
    await Promise.race([st.ended, Bun.sleep(5000).then(() => Promise.reject(new Error("the stream outlived the API")))]);
    expect(Date.now() - started).toBeLessThan(10_000);
    await t.restartApi();
  });
});
