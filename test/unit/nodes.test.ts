// The parts of several nodes that need no second process: where a new session goes, the sealed
// auth-state mirror, the sandbox's batching of its changes, the `auth` report's bounds, the
// tokens of forwarded calls, and the node rows in a real database (PGlite).
import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthMirror, mirrorExisting, restoreAuthState } from "../../sandbox/auth-mirror";
import type { Report } from "../../src/channel/frames";
import { MAX_AUTH_VALUE_LENGTH, sandboxFrameError } from "../../src/channel/frames";
import { openDatabase, type Database } from "../../src/db/client";
import { AuthStateRepository } from "../../src/db/auth-state-repository";
import { NodeRepository, type NodeView } from "../../src/db/node-repository";
import { SessionRepository } from "../../src/db/session-repository";
import { silentLogger } from "../../src/log";
import { NODE_TOKEN_HEADER, NodeForwarder } from "../../src/nodes/forward";
import { bestNode } from "../../src/sessions/placement";
import { AuthStateMirror } from "../../src/sessions/auth-state";
import { authState } from "../../src/db/schema";

// One PGlite for the file (each takes seconds to start), emptied for each test.
let shared: Database | null = null;
async function emptyDatabase(): Promise<Database> {
  shared ??= await openDatabase({ dataDir: null });
  await shared.db.execute(sql`truncate sessions, nodes cascade`);
  return shared;
}
afterAll(async () => {
  await shared?.close();
});

const view = (id: string, sessions: number, capacity: number, state: NodeView["state"] = "live"): NodeView => ({ id, url: `http://${id}`, capacity, sessions, state, lastSeen: new Date() });

describe("placement", () => {
  test("the live node with the most free places; this node on a tie; none when all are full", () => {
    expect(bestNode([view("a", 1, 4), view("b", 0, 4)], "a")?.node).toBe("b");
    expect(bestNode([view("a", 1, 4), view("b", 1, 4)], "b")?.node).toBe("b");
    expect(bestNode([view("a", 0, 10), view("b", 0, 2)], "b")).toEqual({ node: "a", capacity: 10 });
    expect(bestNode([view("a", 0, 4, "draining"), view("b", 3, 4), view("c", 0, 9, "dead")], "a")?.node).toBe("b");
    expect(bestNode([view("a", 4, 4), view("b", 2, 2)], "a")).toBeNull();
    expect(bestNode([view("a", 0, 4), view("b", 3, 4)], "a", "a")?.node).toBe("b");
  });
});

describe("the auth-state mirror", () => {
  test("entries are sealed in the database and open only for their session, name and key", async () => {
    const db = await emptyDatabase();
    {
      const repo = new SessionRepository(db.db);
      const ids = [crypto.randomUUID(), crypto.randomUUID()];
      for (const id of ids) await repo.insert({ id, name: id, state: "stopped", keyHash: id });
      const key = new TextEncoder().encode("k".repeat(32));
      const mirror = new AuthStateMirror(new AuthStateRepository(db.db), key);
      await mirror.store(ids[0]!, [["creds.json", '{"me":"secret-identity"}'], ["session-1.json", "one"], ["pre-key-1.json", "gone soon"]]);
      await mirror.store(ids[0]!, [["pre-key-1.json", null], ["session-1.json", "two"], ["session-1.json", "three"]]);
      expect((await mirror.snapshot(ids[0]!)).entries.sort()).toEqual([["creds.json", '{"me":"secret-identity"}'], ["session-1.json", "three"]]);
      // Nothing readable is stored.
      const rows = await db.db.select().from(authState);
      expect(rows.some((r) => r.value.includes("secret-identity") || r.value.includes("three"))).toBe(false);
      // A row copied to another session, or read with another key, does not open.
      await db.db.insert(authState).values({ sessionId: ids[1]!, name: "creds.json", value: rows.find((r) => r.name === "creds.json")!.value });
      expect(await mirror.snapshot(ids[1]!)).toEqual({ entries: [], unreadable: 1 });
      const other = new AuthStateMirror(new AuthStateRepository(db.db), new TextEncoder().encode("x".repeat(32)));
      expect((await other.snapshot(ids[0]!)).unreadable).toBe(2);
      await mirror.clear(ids[0]!);
      expect((await mirror.snapshot(ids[0]!)).entries).toEqual([]);
    }
  });

  test("a session's mirror has a limit: past it a batch is refused whole; keys written again count once", async () => {
    const db = await emptyDatabase();
    const repo = new SessionRepository(db.db);
    const id = crypto.randomUUID();
    await repo.insert({ id, name: "big", state: "ready", keyHash: "big" });
    const mirror = new AuthStateMirror(new AuthStateRepository(db.db), new TextEncoder().encode("k".repeat(32)), 20_000);
    // The same key a thousand times (a Signal session record, message after message): well under the limit.
    for (let i = 0; i < 1000; i++) expect(await mirror.store(id, [["session-1.json", `record ${i} ${"x".repeat(100)}`]])).toBe(true);
    expect(await mirror.store(id, Array.from({ length: 20 }, (_, i) => [`pre-key-${i}.json`, "p".repeat(500)] as [string, string]))).toBe(true);
    // This one would pass it: nothing of it is stored.
    expect(await mirror.store(id, [["huge.json", "h".repeat(10_000)], ["session-2.json", "s"]])).toBe(false);
    const names = (await mirror.snapshot(id)).entries.map(([n]) => n);
    expect(names).toContain("session-1.json");
    expect(names).not.toContain("session-2.json");
    expect(names).toHaveLength(21);
  });

  test("the sandbox batches its changes, the last write of a name winning, in reports the channel takes", async () => {
    const sent: Report[] = [];
    const mirror = new AuthMirror((r) => sent.push(r));
    mirror.add([["session-1.json", "a"], ["creds.json", "c1"]]);
    mirror.add([["session-1.json", "b"], ["pre-key-9.json", null]]);
    expect(mirror.flush()).toBe(true);
    expect(sent).toEqual([{ type: "auth", entries: [["creds.json", "c1"], ["session-1.json", "b"], ["pre-key-9.json", null]] }]);
    expect(mirror.flush()).toBe(false);
    // Linking writes 812 pre-keys: several reports of at most 500 entries, each a valid frame.
    mirror.add(Array.from({ length: 812 }, (_, i) => [`pre-key-${i}.json`, JSON.stringify({ private: "x".repeat(100), i })] as [string, string]));
    mirror.flush();
    expect(sent.slice(1).map((r) => (r as Extract<Report, { type: "auth" }>).entries.length)).toEqual([500, 312]);
    for (const [seq, report] of sent.entries()) expect(sandboxFrameError({ kind: "report", seq: seq + 1, boot: "b", report })).toBeNull();
    // An entry the channel would refuse is left out and told, not the batch with it.
    const skipped: string[] = [];
    const picky = new AuthMirror((r) => sent.push(r), (name) => skipped.push(name));
    picky.add([["app-state-sync-version-big.json", "x".repeat(MAX_AUTH_VALUE_LENGTH + 1)], ["creds.json", "c2"], ["../x", "y"]]);
    picky.flush();
    expect(skipped).toEqual(["app-state-sync-version-big.json", "../x"]);
    expect(sent.at(-1)).toEqual({ type: "auth", entries: [["creds.json", "c2"]] });
  });

  test("an auth report with a name that leaves the folder, or a value too large, is refused by the channel", () => {
    const frame = (entries: unknown) => ({ kind: "report", seq: 1, boot: "b", report: { type: "auth", entries } });
    for (const name of ["../creds.json", "a/b.json", ".hidden", "a\\b", "", "x".repeat(256), "tab\tname"]) {
      expect(sandboxFrameError(frame([[name, "v"]]))).not.toBeNull();
    }
    expect(sandboxFrameError(frame([["creds.json", "v".repeat(MAX_AUTH_VALUE_LENGTH + 1)]]))).not.toBeNull();
    expect(sandboxFrameError(frame([]))).not.toBeNull();
    expect(sandboxFrameError(frame([["session-4915@s.whatsapp.net.json", null]]))).toBeNull();
  });

  test("a sandbox with an empty volume restores the copy, credentials last; one with credentials keeps its own", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wa-auth-"));
    const server = Bun.serve({
      port: 0,
      fetch: (req) =>
        req.headers.get("authorization") === "Bearer tok" && new URL(req.url).pathname === "/channel/s1/auth-state"
          ? Response.json({ entries: [["creds.json", "{\"c\":1}"], ["session-1.json", "s"], ["../escape.json", "no"]] })
          : new Response("no", { status: 403 }),
    });
    try {
      const files = { base: `http://127.0.0.1:${server.port}/channel/s1`, token: () => "tok" };
      const log = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} } as never;
      expect(await restoreAuthState(join(dir, "auth"), files, log)).toBe(3);
      expect(readdirSync(join(dir, "auth")).sort()).toEqual([".mirrored", "creds.json", "session-1.json"]);
      expect(readFileSync(join(dir, "auth", "creds.json"), "utf8")).toBe('{"c":1}');
      expect(await restoreAuthState(join(dir, "auth"), files, log)).toBe(0);
    } finally {
      server.stop(true);
    }
  });
});

test("a volume the API never got whole sends all of it once, its unfolded journal included", async () => {
  const dir = join(mkdtempSync(join(tmpdir(), "wa-auth-")), "auth");
  mkdirSync(dir);
  writeFileSync(join(dir, "creds.json"), '{"c":1}');
  writeFileSync(join(dir, "session-1.json"), "old");
  writeFileSync(join(dir, "pre-key-1.json"), "p1");
  writeFileSync(join(dir, "keys.journal"), "session-1.json\tnew\npre-key-1.json\t\npre-key-2.json\tp2\ntorn");
  const sent: Report[] = [];
  const log = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} } as never;
  let settle!: (ok: boolean) => void;
  mirrorExisting(dir, new AuthMirror((r) => sent.push(r)), () => new Promise((r) => (settle = r)), log);
  expect(new Map((sent[0] as Extract<Report, { type: "auth" }>).entries)).toEqual(
    new Map<string, string | null>([["creds.json", '{"c":1}'], ["session-1.json", "new"], ["pre-key-1.json", null], ["pre-key-2.json", "p2"]]),
  );
  expect(existsSync(join(dir, ".mirrored"))).toBe(false);
  settle(true);
  await Bun.sleep(10);
  expect(existsSync(join(dir, ".mirrored"))).toBe(true);
  mirrorExisting(dir, new AuthMirror((r) => sent.push(r)), async () => true, log);
  expect(sent).toHaveLength(1);
});

describe("forwarded calls", () => {
  const secret = "s".repeat(40);
  const reach = (id: string) => (id === "b" ? { id, url: "http://127.0.0.1:1" } : null);
  const a = new NodeForwarder(secret, "a", reach, silentLogger);
  const b = new NodeForwarder(secret, "b", reach, silentLogger);
  const req = (method: string, path: string, headers: Record<string, string> = {}) => new Request(`http://x${path}`, { method, headers });

  test("which calls go to the owner: writes and the GETs that ask its sandbox, never twice", () => {
    expect(a.goesToOwner(req("POST", "/sessions/1/messages"), "b")).toBe(true);
    expect(a.goesToOwner(req("GET", "/sessions/1/check-number/4915"), "b")).toBe(true);
    expect(a.goesToOwner(req("GET", "/sessions/1/groups/1@g.us/invite"), "b")).toBe(true);
    expect(a.goesToOwner(req("GET", "/sessions/1/status"), "b")).toBe(false);
    expect(a.goesToOwner(req("POST", "/sessions/1/messages"), "a")).toBe(false);
    expect(a.goesToOwner(req("POST", "/sessions/1/messages", { [NODE_TOKEN_HEADER]: "t" }), "b")).toBe(false);
    // A dead owner's session is moved by whoever is asked.
    expect(a.goesToOwner(req("POST", "/sessions/1/move"), "c")).toBe(false);
    expect(a.goesToOwner(req("POST", "/sessions/1/move"), "b")).toBe(true);
  });

  test("a node's token is accepted by the node it names only, and a wrong or missing secret is refused", async () => {
    const token = await (a as unknown as { token(to: string): Promise<string> }).token("b");
    expect(await b.accepts(req("POST", "/x", { [NODE_TOKEN_HEADER]: token }))).toBe(true);
    expect(await a.accepts(req("POST", "/x", { [NODE_TOKEN_HEADER]: token }))).toBe(false);
    expect(await new NodeForwarder("t".repeat(40), "b", reach, silentLogger).accepts(req("POST", "/x", { [NODE_TOKEN_HEADER]: token }))).toBe(false);
    expect(await new NodeForwarder(undefined, "b", reach, silentLogger).accepts(req("POST", "/x", { [NODE_TOKEN_HEADER]: token }))).toBe(false);
    expect(await b.accepts(req("POST", "/x"))).toBe(true);
  });

  test("a dead or unreachable owner answers 503 SANDBOX_UNAVAILABLE", async () => {
    await expect(a.forward(req("POST", "/sessions/1/messages"), "c")).rejects.toMatchObject({ code: "SANDBOX_UNAVAILABLE" });
    await expect(a.forward(req("POST", "/sessions/1/messages"), "b")).rejects.toMatchObject({ code: "SANDBOX_UNAVAILABLE" });
  });
});

describe("node rows", () => {
  test("sessions from before nodes: the only node takes them all where it ran them, a newcomer only what it holds", async () => {
    const db = await emptyDatabase();
    {
      const nodes = new NodeRepository(db.db);
      const repo = new SessionRepository(db.db);
      const [ready, stopped, out] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
      await repo.insert({ id: ready, name: "r", state: "ready", keyHash: "1" });
      await repo.insert({ id: stopped, name: "s", state: "stopped", keyHash: "2" });
      await repo.insert({ id: out, name: "o", state: "logged_out", keyHash: "3" });
      // A new node, first to register, whose engine holds none of them: not their host.
      await nodes.register({ id: "new", url: "http://n", capacity: 9, bootId: "1" });
      expect(await nodes.claimUnowned("new", [])).toBe(0);
      // The install's own host, started next: what it runs, and not the one without a container.
      await nodes.register({ id: "old", url: "http://o", capacity: 9, bootId: "2" });
      expect(await nodes.claimUnowned("old", [ready, stopped])).toBe(2);
      expect((await nodes.byId(out))?.node).toBeNull();
      // Alone and their host (an install upgraded in place): all of them.
      await db.db.execute("update sessions set node = null" as never);
      await db.db.execute("delete from nodes where id = 'new'" as never);
      expect(await nodes.claimUnowned("old", [ready])).toBe(3);
    }
  });

  test("registered, listed with their sessions, dead past the time, draining by request; adoption takes a session once", async () => {
    const db = await emptyDatabase();
    {
      const nodes = new NodeRepository(db.db);
      const repo = new SessionRepository(db.db);
      await nodes.register({ id: "a", url: "http://a", capacity: 3, bootId: "1" });
      await nodes.register({ id: "b", url: "http://b", capacity: 2, bootId: "2" });
      const id = crypto.randomUUID();
      await repo.insert({ id, name: "s", state: "ready", keyHash: "h", node: "a", launchId: "l1" });
      expect((await nodes.list(60)).map((n) => [n.id, n.state, n.sessions])).toEqual([["a", "live", 1], ["b", "live", 0]]);
      await db.db.execute(`update nodes set last_seen = now() - interval '2 minutes' where id = 'a'` as never);
      expect((await nodes.list(60)).map((n) => n.state)).toEqual(["dead", "live"]);
      // Judged by the database when adopting: a live owner's session is not taken.
      expect(await nodes.adopt("b", 600, 5, (f) => f)).toEqual([]);
      const [first, second] = await Promise.all([nodes.adopt("b", 60, 5, (f) => `from ${f}`), nodes.adopt("b", 60, 5, (f) => `from ${f}`)]);
      expect([...first!, ...second!].map((r) => [r.id, r.node, r.handover, r.launchId])).toEqual([[id, "b", "from a", null]]);
      expect(await nodes.setState("b", "draining")).toBe(true);
      expect(await nodes.setState("z", "draining")).toBe(false);
      await nodes.register({ id: "b", url: "http://b", capacity: 2, bootId: "3" });
      expect((await nodes.list(60)).find((n) => n.id === "b")?.state).toBe("live");
    }
  });
});
