// Issue figure: GET /sessions/{id}/status with a session key against a bare Bun.serve, both in
// their own processes, driven by wrk (one thread) over keep-alive connections: a driver that is
// not itself the bottleneck (a Bun fetch loop saturates near 29k requests/s here).
// Usage: bun bench/status.ts [pglite|postgres|both] [seconds] [connections] [rounds=3]  (apt-get install wrk)
// postgres needs BENCH_DATABASE_URL (or TEST_DATABASE_URL): an admin URL; a database is made.
import { spawn } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../test/support/env";
import { freePort } from "../test/support/net";
import { median } from "./stats";
import { firstJsonLine, formatLoad, statusApiEnv, statusFixture, wrk, type Load } from "./status-load";

const which = process.argv[2] ?? "both";
const seconds = Number(process.argv[3] ?? 5);
const connections = Number(process.argv[4] ?? 32);
const rounds = Number(process.argv[5] ?? 3);
const root = join(import.meta.dir, "..");

async function bare(): Promise<Load> {
  const proc = spawn(["bun", join(root, "bench/bare-server.ts")], { stdout: "pipe", stderr: "inherit" });
  try {
    return await wrk((await firstJsonLine(proc)).url, { seconds, connections });
  } finally {
    proc.kill();
  }
}

async function api(backend: "pglite" | "postgres"): Promise<Load> {
  const dataDir = mkdtempSync(join(tmpdir(), "wa-bench-"));
  const f = await statusFixture(backend, dataDir);
  const port = freePort();
  const proc = spawn(["bun", join(root, "src/main.ts")], { stdout: "ignore", stderr: "inherit", env: statusApiEnv(port, dataDir, f) });
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitFor(() => fetch(`${url}/health`).then((r) => r.ok, () => false), 30_000, "the API to answer /health");
    return await wrk(`${url}/sessions/${f.id}/status`, { seconds, connections, key: f.key });
  } finally {
    proc.kill();
    await proc.exited;
    await f.drop?.();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// Rounds alternate bare and API runs, and the figure is the ratio of medians: the bare server
// alone moves 10-20% between runs on this machine, more than the goals' margins.
const backends = which === "both" ? (["pglite", "postgres"] as const) : [which as "pglite" | "postgres"];
const bares: number[] = [];
const apis: Record<string, number[]> = { pglite: [], postgres: [] };
for (let round = 0; round < rounds; round++) {
  const base = await bare();
  bares.push(base.rps);
  console.log(`round ${round + 1}: bare Bun.serve         ${formatLoad(base)}`);
  for (const backend of backends) {
    const r = await api(backend);
    apis[backend]!.push(r.rps);
    console.log(`round ${round + 1}: status on ${backend.padEnd(9)}   ${formatLoad(r)}  = ${((100 * r.rps) / base.rps).toFixed(1)}% of this round's bare`);
  }
}
for (const backend of backends) {
  const goal = backend === "pglite" ? 40 : 30;
  const ratio = (100 * median(apis[backend]!)) / median(bares);
  console.log(`status on ${backend.padEnd(9)} median ${median(apis[backend]!).toFixed(0)} req/s vs bare median ${median(bares).toFixed(0)} = ${ratio.toFixed(1)}% (goal >= ${goal}%)`);
}
