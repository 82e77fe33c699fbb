// Issue figure: GET /sessions/{id}/status with a session key against a bare Bun.serve, both in
// their own processes, driven by wrk (one thread) over keep-alive connections: a driver that is
// not itself the bottleneck (a Bun fetch loop saturates near 29k requests/s here).
// Usage: bun bench/status.ts [pglite|postgres|both] [seconds] [connections]  (apt-get install wrk)
// postgres needs BENCH_DATABASE_URL (or TEST_DATABASE_URL): an admin URL; a database is made.
import { spawn, type Subprocess } from "bun";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey, hashKey } from "../src/auth/keys";
import { openDatabase } from "../src/db/client";
import { SessionRepository } from "../src/db/session-repository";
import { createTestDatabase } from "../test/support/databases";
import { waitFor } from "../test/support/env";
import { freePort } from "../test/support/net";

const which = process.argv[2] ?? "both";
const seconds = Number(process.argv[3] ?? 5);
const connections = Number(process.argv[4] ?? 32);
const root = join(import.meta.dir, "..");

interface LoadResult {
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
}

async function firstLine(proc: Subprocess<"ignore", "pipe", "inherit">, match: (line: string) => boolean): Promise<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of proc.stdout as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk);
    const lines = buffer.split("\n");
    buffer = lines.pop() ?? "";
    for (const line of lines) if (match(line)) return line;
  }
  throw new Error("process ended before it was ready");
}

async function load(url: string, key?: string): Promise<LoadResult> {
  const args = ["wrk", "-t1", `-c${connections}`, `-d${seconds}s`, "--latency", ...(key ? ["-H", `x-api-key: ${key}`] : []), url];
  // A short warm-up run first, so the JIT and caches are hot for the measured one.
  await spawn([...args.slice(0, 3), "-d1s", ...args.slice(4)], { stdout: "ignore", stderr: "inherit" }).exited;
  const proc = spawn(args, { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`wrk failed (is it installed? apt-get install -y wrk):\n${out}`);
  const ms = (label: string) => {
    const m = new RegExp(`^\\s*${label}\\s+([\\d.]+)(us|ms|s)`, "m").exec(out);
    if (!m) return NaN;
    return Number(m[1]) * (m[2] === "us" ? 0.001 : m[2] === "s" ? 1000 : 1);
  };
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) + Number(/Socket errors: connect (\d+)/.exec(out)?.[1] ?? 0);
  return { requests, errors, rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0), p50: ms("50%"), p99: ms("99%") };
}

async function bare(): Promise<LoadResult> {
  const proc = spawn(["bun", join(root, "bench/bare-server.ts")], { stdout: "pipe", stderr: "inherit" });
  const { url } = JSON.parse(await firstLine(proc, (l) => l.startsWith("{")));
  try {
    return await load(url);
  } finally {
    proc.kill();
  }
}

async function api(backend: "pglite" | "postgres"): Promise<LoadResult> {
  const dataDir = mkdtempSync(join(tmpdir(), "wa-bench-"));
  let databaseUrl: string | undefined;
  let dropDb: (() => Promise<void>) | undefined;
  if (backend === "postgres") {
    const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
    if (!adminUrl) throw new Error("postgres needs BENCH_DATABASE_URL or TEST_DATABASE_URL");
    const created = await createTestDatabase(adminUrl, "wa_bench");
    databaseUrl = created.url;
    dropDb = created.drop;
  }
  // The session row is written before the API starts: status reads only Postgres, so the
  // figure is the HTTP, auth and database path, with no container involved.
  const db = await openDatabase({ databaseUrl, dataDir });
  const id = randomUUID();
  const key = generateKey("session");
  await new SessionRepository(db.db).insert({ id, name: "bench", state: "ready", keyHash: hashKey(key), phoneNumber: "4915112345678" });
  await db.close();

  const port = freePort();
  const proc = spawn(["bun", join(root, "src/main.ts")], {
    stdout: "pipe",
    stderr: "inherit",
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      LOG_LEVEL: "warn",
      ADMIN_API_KEY: generateKey("admin"),
      PODMAN_SOCKET: process.env.PODMAN_SOCKET ?? join(dataDir, "no-podman.sock"),
      INSTANCE_ID: `bench-${id.slice(0, 8)}`,
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { DATABASE_URL: "" }),
    },
  });
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitForHealth(url);
    return await load(`${url}/sessions/${id}/status`, key);
  } finally {
    proc.kill();
    await proc.exited;
    await dropDb?.();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const waitForHealth = (url: string) => waitFor(() => fetch(`${url}/health`).then((r) => r.ok, () => false), 30_000, "the API to answer /health");

const fmt = (r: LoadResult) => `${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}`;
const base = await bare();
console.log(`bare Bun.serve         ${fmt(base)}`);
for (const backend of which === "both" ? (["pglite", "postgres"] as const) : [which as "pglite" | "postgres"]) {
  const r = await api(backend);
  const goal = backend === "pglite" ? 40 : 30;
  const ratio = (100 * r.rps) / base.rps;
  console.log(`status on ${backend.padEnd(9)}   ${fmt(r)}  = ${ratio.toFixed(1)}% of bare (goal >= ${goal}%)`);
}
