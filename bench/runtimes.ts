// The API on Bun and on Deno in the same run: GET /sessions/{id}/status with a session key,
// driven by wrk (one thread, keep-alive connections) against each API in its own process, and
// each API's idle memory (PSS and RSS from /proc/<pid>/smaps_rollup) once it has started and
// settled, before any load. A bare server on each runtime gives the ceiling of its HTTP stack.
// Rounds alternate the runtimes, so a neighbour's load on this shared machine hits both alike.
// Usage: bun bench/runtimes.ts [pglite|postgres|both] [seconds] [connections] [rounds]
// (apt-get install wrk; npm i -g deno). postgres needs BENCH_DATABASE_URL or TEST_DATABASE_URL.
import { spawn } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apiCommand, type ApiRuntime } from "../test/support/api";
import { waitFor } from "../test/support/env";
import { freePort } from "../test/support/net";
import { firstJsonLine, formatLoad, processMemory, statusApiEnv, statusFixture, wrk, type Load, type StatusFixture } from "./status-load";

const which = process.argv[2] ?? "both";
const seconds = Number(process.argv[3] ?? 5);
const connections = Number(process.argv[4] ?? 32);
const rounds = Number(process.argv[5] ?? 2);
const root = join(import.meta.dir, "..");
const runtimes: ApiRuntime[] = ["bun", "deno"];
/** How long an API sits after its first /health before its idle memory is read. */
const SETTLE_MS = 3000;

interface Memory {
  pssMiB: number;
  rssMiB: number;
}

function memory(pid: number): Memory {
  const { pss, rss } = processMemory(pid);
  return { pssMiB: pss / 1024, rssMiB: rss / 1024 };
}

async function bare(runtime: ApiRuntime): Promise<Load> {
  const cmd = runtime === "bun" ? ["bun", join(root, "bench/bare-server.ts")] : ["deno", "run", "--allow-net", join(root, "bench/bare-server-deno.ts")];
  const proc = spawn(cmd, { stdout: "pipe", stderr: "inherit" });
  try {
    return await wrk((await firstJsonLine(proc)).url, { seconds, connections });
  } finally {
    proc.kill();
    await proc.exited;
  }
}

async function api(runtime: ApiRuntime, f: StatusFixture, dataDir: string): Promise<{ load: Load; idle: Memory; loaded: Memory }> {
  const port = freePort();
  // The same command `bun run start` or `deno task start` runs; PGlite when DATABASE_URL is empty.
  const proc = spawn(apiCommand(runtime), {
    cwd: root,
    stdout: "ignore",
    stderr: "inherit",
    env: statusApiEnv(port, dataDir, f),
  });
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitFor(() => fetch(`${url}/health`).then((r) => r.ok, () => false), 30_000, `the API on ${runtime} to answer /health`);
    await Bun.sleep(SETTLE_MS);
    const idle = memory(proc.pid);
    const load = await wrk(`${url}/sessions/${f.id}/status`, { seconds, connections, key: f.key });
    return { load, idle, loaded: memory(proc.pid) };
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

console.log(`wrk -t1 -c${connections} -d${seconds}s, ${rounds} round(s) per runtime, alternating; Deno ${(await new Response(spawn(["deno", "--version"], { stdout: "pipe" }).stdout).text()).split("\n")[0]}, Bun ${Bun.version}`);
for (const runtime of runtimes) console.log(`bare ${runtime.padEnd(4)} server        ${formatLoad(await bare(runtime))}`);
for (const backend of which === "both" ? (["pglite", "postgres"] as const) : [which as "pglite" | "postgres"]) {
  const results: Record<ApiRuntime, { load: Load; idle: Memory; loaded: Memory }[]> = { bun: [], deno: [] };
  for (let round = 0; round < rounds; round++) {
    for (const runtime of round % 2 === 0 ? runtimes : [...runtimes].reverse()) {
      // A fresh data folder and database per run: each API starts from the same state.
      const dataDir = mkdtempSync(join(tmpdir(), "wa-bench-"));
      const f = await statusFixture(backend, dataDir);
      try {
        const r = await api(runtime, f, dataDir);
        results[runtime].push(r);
        console.log(`  round ${round + 1} ${runtime.padEnd(4)} on ${backend.padEnd(8)} ${formatLoad(r.load)}  idle PSS ${r.idle.pssMiB.toFixed(1)} MiB (RSS ${r.idle.rssMiB.toFixed(1)})  after load PSS ${r.loaded.pssMiB.toFixed(1)} MiB`);
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
