// The API on Bun and on Deno in the same run: GET /sessions/{id}/status with a session key,
// driven by wrk (one thread, keep-alive connections) against each API in its own process, and
// each API's idle memory (PSS and RSS from /proc/<pid>/smaps_rollup) once it has started and
// settled, before any load. A bare server on each runtime gives the ceiling of its HTTP stack.
// Rounds alternate the runtimes, so a neighbour's load on this shared machine hits both alike.
// Usage: bun bench/runtimes.ts [pglite|postgres|both] [seconds] [connections] [rounds]
// (apt-get install wrk; npm i -g deno). postgres needs BENCH_DATABASE_URL or TEST_DATABASE_URL.
import { spawn, type Subprocess } from "bun";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey, hashKey } from "../src/auth/keys";
import { openDatabase } from "../src/db/client";
import { SessionRepository } from "../src/db/session-repository";
import { apiCommand, type ApiRuntime } from "../test/support/api";
import { createTestDatabase } from "../test/support/databases";
import { waitFor } from "../test/support/env";
import { freePort } from "../test/support/net";

const which = process.argv[2] ?? "both";
const seconds = Number(process.argv[3] ?? 5);
const connections = Number(process.argv[4] ?? 32);
const rounds = Number(process.argv[5] ?? 2);
const root = join(import.meta.dir, "..");
const runtimes: ApiRuntime[] = ["bun", "deno"];
/** How long an API sits after its first /health before its idle memory is read. */
const SETTLE_MS = 3000;

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}
interface Memory {
  pssMiB: number;
  rssMiB: number;
}

async function wrk(url: string, key?: string): Promise<Load> {
  const header = key ? ["-H", `x-api-key: ${key}`] : [];
  // A short warm-up run first, so the JIT and caches are hot for the measured one.
  await spawn(["wrk", "-t1", `-c${connections}`, "-d1s", ...header, url], { stdout: "ignore", stderr: "inherit" }).exited;
  const proc = spawn(["wrk", "-t1", `-c${connections}`, `-d${seconds}s`, "--latency", ...header, url], { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`wrk failed (is it installed? apt-get install -y wrk):\n${out}`);
  const ms = (label: string) => {
    const m = new RegExp(`^\\s*${label}\\s+([\\d.]+)(us|ms|s)`, "m").exec(out);
    return m ? Number(m[1]) * (m[2] === "us" ? 0.001 : m[2] === "s" ? 1000 : 1) : NaN;
  };
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) + Number(/Socket errors: connect (\d+)/.exec(out)?.[1] ?? 0);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0), p50: ms("50%"), p99: ms("99%"), errors };
}

/** Proportional set size and resident size of one process, from the kernel's rollup. */
function memory(pid: number): Memory {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  return { pssMiB: kib("Pss") / 1024, rssMiB: kib("Rss") / 1024 };
}

async function firstJsonLine(proc: Subprocess<"ignore", "pipe", "inherit">): Promise<{ url: string }> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of proc.stdout as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk);
    const line = buffer.split("\n").find((l) => l.startsWith("{"));
    if (line) return JSON.parse(line);
  }
  throw new Error("bare server ended before it was ready");
}

async function bare(runtime: ApiRuntime): Promise<Load> {
  const cmd = runtime === "bun" ? ["bun", join(root, "bench/bare-server.ts")] : ["deno", "run", "--allow-net", join(root, "bench/bare-server-deno.ts")];
  const proc = spawn(cmd, { stdout: "pipe", stderr: "inherit" });
  try {
    return await wrk((await firstJsonLine(proc)).url);
  } finally {
    proc.kill();
    await proc.exited;
  }
}

interface Fixture {
  id: string;
  key: string;
  databaseUrl?: string;
  drop?: () => Promise<void>;
}

/** One ready session row, written before any API starts (status reads only the database). */
async function fixture(backend: "pglite" | "postgres", dataDir: string): Promise<Fixture> {
  let databaseUrl: string | undefined;
  let drop: (() => Promise<void>) | undefined;
  if (backend === "postgres") {
    const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
    if (!adminUrl) throw new Error("postgres needs BENCH_DATABASE_URL or TEST_DATABASE_URL");
    ({ url: databaseUrl, drop } = await createTestDatabase(adminUrl, "wa_bench"));
  }
  const db = await openDatabase({ databaseUrl, dataDir });
  const id = randomUUID();
  const key = generateKey("session");
  await new SessionRepository(db.db).insert({ id, name: "bench", state: "ready", keyHash: hashKey(key), phoneNumber: "4915112345678" });
  await db.close();
  return { id, key, databaseUrl, drop };
}

async function api(runtime: ApiRuntime, f: Fixture, dataDir: string): Promise<{ load: Load; idle: Memory; loaded: Memory }> {
  const port = freePort();
  // The same command `bun run start` or `deno task start` runs; PGlite when DATABASE_URL is empty.
  const proc = spawn(apiCommand(runtime), {
    cwd: root,
    stdout: "ignore",
    stderr: "inherit",
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      LOG_LEVEL: "warn",
      ADMIN_API_KEY: generateKey("admin"),
      PODMAN_SOCKET: process.env.PODMAN_SOCKET ?? join(dataDir, "no-podman.sock"),
      INSTANCE_ID: `bench-${f.id.slice(0, 8)}`,
      DATABASE_URL: f.databaseUrl ?? "",
    },
  });
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitFor(() => fetch(`${url}/health`).then((r) => r.ok, () => false), 30_000, `the API on ${runtime} to answer /health`);
    await Bun.sleep(SETTLE_MS);
    const idle = memory(proc.pid);
    const load = await wrk(`${url}/sessions/${f.id}/status`, f.key);
    return { load, idle, loaded: memory(proc.pid) };
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const fmtLoad = (r: Load) => `${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}`;

console.log(`wrk -t1 -c${connections} -d${seconds}s, ${rounds} round(s) per runtime, alternating; Deno ${(await new Response(spawn(["deno", "--version"], { stdout: "pipe" }).stdout).text()).split("\n")[0]}, Bun ${Bun.version}`);
for (const runtime of runtimes) console.log(`bare ${runtime.padEnd(4)} server        ${fmtLoad(await bare(runtime))}`);
for (const backend of which === "both" ? (["pglite", "postgres"] as const) : [which as "pglite" | "postgres"]) {
  const results: Record<ApiRuntime, { load: Load; idle: Memory; loaded: Memory }[]> = { bun: [], deno: [] };
  for (let round = 0; round < rounds; round++) {
    for (const runtime of round % 2 === 0 ? runtimes : [...runtimes].reverse()) {
      // A fresh data folder and database per run: each API starts from the same state.
      const dataDir = mkdtempSync(join(tmpdir(), "wa-bench-"));
      const f = await fixture(backend, dataDir);
      try {
        const r = await api(runtime, f, dataDir);
        results[runtime].push(r);
        console.log(`  round ${round + 1} ${runtime.padEnd(4)} on ${backend.padEnd(8)} ${fmtLoad(r.load)}  idle PSS ${r.idle.pssMiB.toFixed(1)} MiB (RSS ${r.idle.rssMiB.toFixed(1)})  after load PSS ${r.loaded.pssMiB.toFixed(1)} MiB`);
      } finally {
        await f.drop?.();
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }
  for (const runtime of runtimes) {
    const rs = results[runtime];
    console.log(
      `status on ${backend.padEnd(8)} ${runtime.padEnd(4)}  mean ${mean(rs.map((r) => r.load.rps)).toFixed(0).padStart(7)} req/s` +
        `  idle PSS ${mean(rs.map((r) => r.idle.pssMiB)).toFixed(1)} MiB (RSS ${mean(rs.map((r) => r.idle.rssMiB)).toFixed(1)} MiB)` +
        `  after load PSS ${mean(rs.map((r) => r.loaded.pssMiB)).toFixed(1)} MiB`,
    );
  }
}
