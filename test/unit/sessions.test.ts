// The session domain's rules, directly: PGlite in memory and the runtime and channel seams
// played in memory (real Podman and the real channel are the integration tests' business).
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { SessionError, type Sessions, type StateChange } from "../../src/sessions";
import type { SessionRepository } from "../../src/db/session-repository";
import { WebhookSecrets } from "../../src/webhooks/secrets";
import { made, memoryDomain, type MemoryDomain } from "../support/memory-domain";
import type { MemoryLink, MemoryRuntime } from "../support/memory-runtime";

let domain: MemoryDomain;
let repo: SessionRepository;
let runtime: MemoryRuntime;
let link: MemoryLink;
let sessions: Sessions;
let changes: StateChange[];

beforeEach(async () => {
  domain = await memoryDomain(domain);
  ({ repo, runtime, link, sessions, changes } = domain);
});
afterAll(() => domain?.close());

const name = () => `u-${crypto.randomUUID().slice(0, 8)}`;
const row = async (id: string) => (await repo.byId(id))!;
const launchOf = (id: string) => runtime.containers.get(id)!.launch.env.LAUNCH!;
async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e) => e,
  );
  expect(err).toBeInstanceOf(SessionError);
  return (err as SessionError).code;
}

describe("creates answer at once; containers are made in turn", () => {
  test("ten creates answer before any container exists; at most SANDBOX_CREATE_CONCURRENCY (4) are made at once, none fails", async () => {
    runtime.delayMs = 25;
    const answers = await Promise.all(Array.from({ length: 10 }, () => sessions.operations.create({ name: name() })));
    expect(answers.map((a) => a.session.state)).toEqual(Array(10).fill("starting"));
    expect(answers.filter((a) => runtime.containers.has(a.session.id))).toHaveLength(0);
    await Promise.all(answers.map((a) => a.container));
    for (const a of answers) expect(runtime.containers.get(a.session.id)?.running).toBe(true);
    const creates = runtime.calls.filter((c) => c.op === "create");
    expect(creates).toHaveLength(10);
    // The most creates in flight at any moment of the runtime's clock.
    const edges = creates.flatMap((c) => [[c.begin, 1], [c.end!, -1]] as const).sort((a, b) => a[0] - b[0]);
    let inFlight = 0;
    let atOnce = 0;
    for (const [, step] of edges) atOnce = Math.max(atOnce, (inFlight += step));
    expect(atOnce).toBe(4);
  });

  test("a container the engine refuses fails its session with the reason; the create itself had answered", async () => {
    runtime.delayMs = 10;
    const { session, container } = await sessions.operations.create({ name: name() });
    runtime.down = true;
    await container;
    runtime.down = false;
    const failed = await row(session.id);
    expect(failed.state).toBe("failed");
    expect(changes.at(-1)).toMatchObject({ to: "failed", reason: "container could not be created (RUNTIME_UNAVAILABLE)" });
    expect(runtime.containers.has(session.id)).toBe(false);
  });

  test("a session deleted while its container waits for a turn gets none", async () => {
    runtime.delayMs = 30;
    const first = await Promise.all(Array.from({ length: 4 }, () => sessions.operations.create({ name: name() })));
    const last = await sessions.operations.create({ name: name() });
    await sessions.operations.delete(await row(last.session.id));
    await Promise.all([...first, last].map((a) => a.container));
    expect(runtime.containers.has(last.session.id)).toBe(false);
    expect(await repo.byId(last.session.id)).toBeNull();
  });
});

describe("one session, one operation at a time", () => {
  test("overlapping stop/start/logout/delete never overlap at the runtime, and end where the last one leaves them", async () => {
    runtime.delayMs = 15;
    const { session } = await made(sessions.operations.create({ name: name() }));
    const s = await row(session.id);
    const results = await Promise.allSettled([
      sessions.operations.stop(s),
      sessions.operations.start(s),
      sessions.operations.logout(s, 100),
      sessions.operations.stop(s),
      sessions.operations.start(s),
    ]);
    expect(runtime.overlapped(s.id)).toBe(false);
    // In order: stop ok, start ok, logout refused (starting), stop ok, start ok.
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"]);
    expect((await row(s.id)).state).toBe("starting");
    expect(runtime.containers.get(s.id)?.running).toBe(true);
  });

  test("a delete queued behind a create waits for the container, then removes it", async () => {
    runtime.delayMs = 20;
    const creating = sessions.operations.create({ name: name() });
    await Bun.sleep(5);
    const [listed] = (await repo.list()).slice(-1);
    const deleting = sessions.operations.delete(listed!);
    await (await creating).container;
    await deleting;
    expect(await repo.byId(listed!.id)).toBeNull();
    expect(runtime.containers.has(listed!.id)).toBe(false);
    expect(runtime.volumes.has(listed!.id)).toBe(false);
    expect(runtime.overlapped(listed!.id)).toBe(false);
  });

  test("an operation queued behind a delete answers not found", async () => {
    const { session } = await made(sessions.operations.create({ name: name() }));
    const s = await row(session.id);
    const [del, stop] = await Promise.allSettled([sessions.operations.delete(s), sessions.operations.stop(s)]);
    expect(del.status).toBe("fulfilled");
    expect(stop.status === "rejected" && (stop.reason as SessionError).code).toBe("SESSION_NOT_FOUND");
  });
});

describe("the state moves only when the runtime did the work", () => {
  test("stop with the engine down: 503-class error, state and launch unchanged; later stop works", async () => {
    const { session } = await made(sessions.operations.create({ name: name() }));
    runtime.down = true;
    expect(await codeOf(sessions.operations.stop(await row(session.id)))).toBe("RUNTIME_UNAVAILABLE");
    expect((await row(session.id)).state).toBe("starting");
    expect((await row(session.id)).launchId).not.toBeNull();
    runtime.down = false;
    await sessions.operations.stop(await row(session.id));
    expect((await row(session.id)).state).toBe("stopped");
    expect((await row(session.id)).launchId).toBeNull();
    expect(runtime.containers.get(session.id)!.running).toBe(false);
  });

  test("a start that the engine refuses leaves the session stopped with no new launch", async () => {
    const { session } = await made(sessions.operations.create({ name: name() }));
    await sessions.operations.stop(await row(session.id));
    runtime.down = true;
    const err = await sessions.operations.start(await row(session.id)).catch((e) => e);
    expect(err.code).toBe("RUNTIME_UNAVAILABLE");
    // The client's message names no host internals; the socket path stays in the log.
    expect(err.message).not.toContain("/run/secret");
    expect((await row(session.id)).state).toBe("stopped");
    expect((await row(session.id)).launchId).toBeNull();
  });

  test("stop of a stopped session still stops its container", async () => {
    const { session } = await made(sessions.operations.create({ name: name() }));
    await sessions.operations.stop(await row(session.id));
    runtime.containers.get(session.id)!.running = true; // someone started it by hand
    await sessions.operations.stop(await row(session.id));
    expect(runtime.containers.get(session.id)!.running).toBe(false);
  });
});

describe("reports count only from the current launch and in a state that allows them", () => {
  test("a report of an earlier launch moves nothing; the current one does", async () => {
    const { session } = await made(sessions.operations.create({ name: name() }));
    const first = launchOf(session.id);
    await sessions.operations.stop(await row(session.id));
    await sessions.operations.start(await row(session.id));
    const second = launchOf(session.id);
    expect(second).not.toBe(first);
    expect(await sessions.reports.admits(session.id, first)).toBe(false);
    expect(await sessions.reports.admits(session.id, second)).toBe(true);
    await sessions.reports.apply(session.id, first, { type: "qr", qr: "old" });
    expect((await row(session.id)).state).toBe("starting");
    await sessions.reports.apply(session.id, second, { type: "qr", qr: "new" });
    expect((await row(session.id))).toMatchObject({ state: "qr_ready", qr: "new" });
  });

  test("while disconnected, each failed attempt updates the reason; a new kind of reason is an event of its own", async () => {
    const { session } = await made(sessions.operations.create({ name: name() }));
    const launch = launchOf(session.id);
    await sessions.reports.apply(session.id, launch, { type: "ready", phoneNumber: "4915112340002", pushName: null });
    await sessions.reports.apply(session.id, launch, { type: "disconnected", reason: "Connection Terminated (428)" });
    await sessions.reports.apply(session.id, launch, { type: "disconnected", reason: "proxy unreachable (connection refused)" });
    await sessions.reports.apply(session.id, launch, { type: "disconnected", reason: "proxy unreachable (timed out)" });
    expect((await row(session.id))).toMatchObject({ state: "disconnected", stateReason: "proxy unreachable (timed out)" });
    const events = (await repo.events(session.id, 10)).map((e) => [e.fromState, e.toState, e.reason]);
    expect(events.filter(([, to]) => to === "disconnected")).toEqual(
      expect.arrayContaining([
        ["ready", "disconnected", "Connection Terminated (428)"],
        ["disconnected", "disconnected", "proxy unreachable (connection refused)"],
      ]),
    );
    expect(events.filter(([, to]) => to === "disconnected")).toHaveLength(2);
  });

  test("a stopped session admits no sandbox and stores no contacts", async () => {
    const { session } = await made(sessions.operations.create({ name: name() }));
    const launch = launchOf(session.id);
    await sessions.operations.stop(await row(session.id));
    expect(await sessions.reports.admits(session.id, launch)).toBe(false);
    await sessions.reports.apply(session.id, launch, { type: "contacts", contacts: [{ id: "1@s.whatsapp.net", name: "x", notify: null, verifiedName: null, phone: null }] });
    expect(await repo.contacts(session.id)).toEqual([]);
  });

  test("a logged_out report the state machine refuses keeps the contacts", async () => {
    const { session } = await made(sessions.operations.create({ name: name() }));
    const launch = launchOf(session.id);
    await sessions.reports.apply(session.id, launch, { type: "ready", phoneNumber: "4915112340001", pushName: null });
    await sessions.reports.apply(session.id, launch, { type: "contacts", contacts: [{ id: "1@s.whatsapp.net", name: "x", notify: null, verifiedName: null, phone: null }] });
    await sessions.reports.apply(session.id, launch, { type: "failed", reason: "x" });
    // failed -> logged_out is allowed; make the refusal real: a deleted session's report.
    await repo.transition(session.id, "failed", "stopped", "test");
    await sessions.reports.apply(session.id, launch, { type: "logged_out", reason: "unlinked" });
    expect((await row(session.id)).state).toBe("stopped");
    expect(await repo.contacts(session.id)).toHaveLength(1);
  });

  test("a logged_out report that is accepted clears what was synced", async () => {
    const { session } = await made(sessions.operations.create({ name: name() }));
    const launch = launchOf(session.id);
    await sessions.reports.apply(session.id, launch, { type: "ready", phoneNumber: "4915112340001", pushName: null });
    await sessions.reports.apply(session.id, launch, { type: "chats", chats: [{ id: "1@s.whatsapp.net", name: "x", isGroup: false, unreadCount: 1, timestamp: 1 }] });
    expect(await repo.chats(session.id)).toHaveLength(1);
    await sessions.reports.apply(session.id, launch, { type: "logged_out", reason: "unlinked" });
    expect((await row(session.id))).toMatchObject({ state: "logged_out", phoneNumber: null });
    expect(await repo.chats(session.id)).toEqual([]);
  });
});

describe("runtime events and reconcile", () => {
  test("a container that dies fails its live session, with the reason", async () => {
    const { session } = await made(sessions.operations.create({ name: name() }));
    runtime.kill(session.id);
    await sessions.runtimeSync.onEvent({ kind: "died", sessionId: session.id, exitCode: 137 });
    expect((await row(session.id))).toMatchObject({ state: "failed", stateReason: "sandbox container exited with code 137" });
  });

  test("events resuming after an outage reconcile: a vanished container fails its session", async () => {
    const { session } = await made(sessions.operations.create({ name: name() }));
    runtime.containers.delete(session.id);
    await sessions.runtimeSync.onEvent({ kind: "resumed" });
    expect((await row(session.id)).state).toBe("failed");
  });

  test("reconcile leaves a container of an unknown session alone", async () => {
    runtime.containers.set("not-ours", { running: true, launch: { env: {}, binds: [] } });
    runtime.volumes.add("not-ours");
    const result = await sessions.runtimeSync.reconcile();
    expect(result.unknown).toBeGreaterThanOrEqual(1);
    expect(runtime.containers.has("not-ours")).toBe(true);
    expect(runtime.volumes.has("not-ours")).toBe(true);
  });
});

describe("sandbox calls", () => {
  test("a sandbox's failure is SANDBOX_ERROR with no words of the sandbox's; absent sandbox is SANDBOX_UNAVAILABLE", async () => {
    const { session } = await made(sessions.operations.create({ name: name() }));
    const launch = launchOf(session.id);
    await sessions.reports.apply(session.id, launch, { type: "ready", phoneNumber: "4915112340001", pushName: null });
    const { SandboxUnavailable } = await import("../../src/channel/link");
    link.answer = async () => {
      throw new SandboxUnavailable("no");
    };
    expect(await codeOf(sessions.calls.checkNumber(await row(session.id), "4915112340002"))).toBe("SANDBOX_UNAVAILABLE");
    link.answer = async () => {
      throw new Error("<script>alert(1)</script> from a hostile sandbox");
    };
    const err = await sessions.calls.checkNumber(await row(session.id), "4915112340002").catch((e) => e);
    expect(err.code).toBe("SANDBOX_ERROR");
    expect(err.message).not.toContain("script");
    // CHECK_NUMBER_PER_MINUTE=2 here: the third check in a minute is refused before the sandbox.
    expect(await codeOf(sessions.calls.checkNumber(await row(session.id), "4915112340002"))).toBe("RATE_LIMITED");
  });

  test("phone numbers are checked before anything else", async () => {
    const { session } = await made(sessions.operations.create({ name: name() }));
    expect(await codeOf(sessions.calls.checkNumber(await row(session.id), "12ab"))).toBe("INVALID_PHONE_NUMBER");
  });
});

test("state changes reach the listener in order", async () => {
  const { session } = await made(sessions.operations.create({ name: name() }));
  await sessions.operations.stop(await row(session.id));
  expect(changes.filter((c) => c.session.id === session.id).map((c) => c.to)).toEqual(["creating", "starting", "stopped"]);
});

describe("webhook secret rotation", () => {
  test("two rotations from the same secret: the first wins, the second is 409 CONFLICT and leaves the first's secret in force", async () => {
    const { session } = await made(sessions.operations.create({ name: name() }));
    // Both requests read the session before either wrote: as two rotations sent at once.
    const seen = await row(session.id);
    const first = await sessions.webhooks.rotateSecret(seen);
    expect(await codeOf(sessions.webhooks.rotateSecret(seen))).toBe("CONFLICT");
    const now = await row(session.id);
    expect(new WebhookSecrets(new Uint8Array(32)).secretOf(session.id, now.webhookSecretSalt!)).toBe(first);
    // A rotation that read the current secret wins again.
    expect(await sessions.webhooks.rotateSecret(now)).not.toBe(first);
  });
});
