// Issue figures for the webhook outbox: events delivered per second to a local receiver, and
// p50/p99 from the change (its transaction's commit) to the receiver's hands, with N sessions
// emitting at once. The real path: each event is a session change written with its outbox row in
// one transaction, then the real dispatcher signs it (Standard Webhooks) and POSTs it over
// loopback to a receiver in another process. Usage: bun bench/webhooks.ts [sessions=100]
// [events per session=50] [pglite|postgres|both] [offered events/s, all sessions together];
// postgres needs TEST_DATABASE_URL. Without a rate every session emits as fast as it can (the
// saturation throughput, whose latency is mostly queueing); with one, the sessions' changes are
// spread evenly at that total rate, which is the latency a receiver sees at that load. The live
// run goes twice, cold (first after start) and warm (the steady state of a running API).
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../src/db/client";
import { DeliveryRepository } from "../src/db/delivery-repository";
import { SessionRepository } from "../src/db/session-repository";
import { silentLogger } from "../src/log";
import { WebhookDispatcher } from "../src/webhooks/dispatcher";
import { WebhookSecrets } from "../src/webhooks/secrets";
import { createTestDatabase } from "../test/support/databases";
import { freePort } from "../test/support/net";

const sessions = Number(process.argv[2] ?? 100);
const perSession = Number(process.argv[3] ?? 50);
const which = process.argv[4] ?? "both";
const offered = process.argv[5] ? Number(process.argv[5]) : null;

/** The receiver runs in its own process, so its work does not share the dispatcher's event loop. */
async function startReceiver(port: number, expected: number) {
  const code = `
    const latencies = [];
    let first = 0, last = 0;
    Bun.serve({ hostname: "127.0.0.1", port: ${port}, async fetch(req) {
      const body = await req.json();
      const now = Date.now();
      if (!first) first = now;
      last = now;
      latencies.push(now - Date.parse(body.timestamp));
      if (latencies.length === ${expected}) { console.log(JSON.stringify({ first, last, latencies })); setTimeout(() => process.exit(0), 50); }
      return new Response(null, { status: 204 });
    } });
    console.error("ready");`;
  const proc = Bun.spawn(["bun", "-e", code], { stdout: "pipe", stderr: "pipe" });
  const reader = proc.stderr.getReader();
  await reader.read(); // "ready"
  const result = new Response(proc.stdout).text().then((t) => JSON.parse(t) as { first: number; last: number; latencies: number[] });
  return { proc, result };
}

function newDispatcher(database: Awaited<ReturnType<typeof openDatabase>>, repo: SessionRepository) {
  return new WebhookDispatcher({
    deliveries: new DeliveryRepository(database.db),
    session: (id) => repo.byId(id),
    secrets: new WebhookSecrets(new Uint8Array(32).fill(1)),
    log: silentLogger,
    retryHours: 24,
    keepDays: 7,
    backoffMs: 1000,
    timeoutMs: 10_000,
    allowPrivate: true,
  });
}

/** Every session emits its events one change at a time, all sessions at once (at `rate` events/s in all, when given). */
async function emit(repo: SessionRepository, ids: string[], wake: ((id: string) => void) | null, rate: number | null = null) {
  const start = performance.now();
  const period = rate ? (1000 * ids.length) / rate : 0; // ms between one session's changes
  await Promise.all(
    ids.map(async (id, i) => {
      for (let n = 0; n < perSession; n++) {
        if (period) {
          const due = start + (i / ids.length + n) * period;
          if (due > performance.now()) await Bun.sleep(due - performance.now());
        }
        await repo.update(id, { stateReason: `change ${n}` }, [{ event: "session.state", data: { state: "ready", previousState: "ready", reason: `change ${n}`, phoneNumber: null } }]);
        wake?.(id);
      }
    }),
  );
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function run(backend: "pglite" | "postgres") {
  const dataDir = mkdtempSync(join(tmpdir(), "wa-bench-hooks-"));
  const pg = backend === "postgres" ? await createTestDatabase(process.env.TEST_DATABASE_URL, "wa_bench") : null;
  const database = await openDatabase({ databaseUrl: pg?.url, dataDir });
  const repo = new SessionRepository(database.db);
  const port = freePort();
  const total = sessions * perSession;
  const ids: string[] = [];
  for (let i = 0; i < sessions; i++) {
    const id = randomUUID();
    await repo.insert({ id, name: `hook-${i}`, state: "ready", keyHash: randomUUID(), webhookUrl: `http://127.0.0.1:${port}/hook`, webhookSecretSalt: "salt" });
    ids.push(id);
  }
  // 1. Live: sessions emit while the dispatcher delivers (latency from change to receiver). Twice:
  // the first round pays for a cold process (pool connections opened, statements prepared, code
  // compiled), the second is the steady state of a running API.
  for (const round of ["cold", "warm"]) {
    const receiver = await startReceiver(port, total);
    const dispatcher = newDispatcher(database, repo);
    dispatcher.start();
    const started = Date.now();
    await emit(repo, ids, (id) => dispatcher.wake(id), offered);
    const emitted = Date.now();
    const live = await receiver.result;
    await dispatcher.stop();
    receiver.proc.kill();
    const latencies = live.latencies.sort((a, b) => a - b);
    const seconds = (live.last - started) / 1000;
    console.log(
      `${backend.padEnd(8)} live (${round}): ${sessions} sessions x ${perSession} events emitted at once${offered ? ` (offered ${offered}/s)` : ""}: ${(total / seconds).toFixed(0)} events/s delivered ` +
        `(emitting alone took ${((emitted - started) / 1000).toFixed(2)} s, ${(total / ((emitted - started) / 1000)).toFixed(0)} changes/s); ` +
        `change -> receiver p50 ${percentile(latencies, 50)} ms  p99 ${percentile(latencies, 99)} ms  max ${latencies.at(-1)} ms`,
    );
  }

  // 2. Drain: the same number of events already in the outbox (an API restarted after an
  // outage), delivered as fast as the dispatcher can: its own throughput, not the emitters'.
  const drainReceiver = await startReceiver(port, total);
  await emit(repo, ids, null);
  const dispatcher = newDispatcher(database, repo);
  const drainStart = Date.now();
  dispatcher.start();
  const drained = await drainReceiver.result;
  await dispatcher.stop();
  drainReceiver.proc.kill();
  console.log(`${backend.padEnd(8)} drain: ${total} events waiting in the outbox delivered at ${(total / ((drained.last - drainStart) / 1000)).toFixed(0)} events/s`);

  await database.close();
  await pg?.drop();
  rmSync(dataDir, { recursive: true, force: true });
}

for (const backend of which === "both" ? (["pglite", "postgres"] as const) : [which as "pglite" | "postgres"]) await run(backend);
