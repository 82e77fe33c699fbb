// What bench/status.ts and bench/runtimes.ts share: wrk as the load driver, a database holding
// one ready session for `GET /sessions/{id}/status`, the API's environment for such a run, and
// a process's memory from /proc.
import { spawn, type Subprocess } from "bun";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { generateKey, hashKey } from "../src/auth/keys";
import { openDatabase } from "../src/db/client";
import { SessionRepository } from "../src/db/session-repository";
import { createTestDatabase } from "../test/support/databases";

export interface Load {
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
}

/** wrk with one thread over keep-alive connections, after a 1 s warm-up run (JIT and caches hot). */
export async function wrk(url: string, opts: { seconds: number; connections: number; key?: string }): Promise<Load> {
  const header = opts.key ? ["-H", `x-api-key: ${opts.key}`] : [];
  await spawn(["wrk", "-t1", `-c${opts.connections}`, "-d1s", ...header, url], { stdout: "ignore", stderr: "inherit" }).exited;
  const proc = spawn(["wrk", "-t1", `-c${opts.connections}`, `-d${opts.seconds}s`, "--latency", ...header, url], { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`wrk failed (is it installed? apt-get install -y wrk):\n${out}`);
  const ms = (label: string) => {
    const m = new RegExp(`^\\s*${label}\\s+([\\d.]+)(us|ms|s)`, "m").exec(out);
    return m ? Number(m[1]) * (m[2] === "us" ? 0.001 : m[2] === "s" ? 1000 : 1) : NaN;
  };
  return {
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0),
    errors: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) + Number(/Socket errors: connect (\d+)/.exec(out)?.[1] ?? 0),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    p50: ms("50%"),
    p99: ms("99%"),
  };
}

export const formatLoad = (r: Load) => `${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}`;

/** The first line of a process's stdout that is a JSON object (the bare servers print their URL). */
export async function firstJsonLine(proc: Subprocess<"ignore", "pipe", "inherit">): Promise<{ url: string }> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of proc.stdout as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk);
    const line = buffer.split("\n").find((l) => l.startsWith("{"));
    if (line) return JSON.parse(line);
  }
  throw new Error("the server ended before it was ready");
}

export interface StatusFixture {
  id: string;
  key: string;
  databaseUrl?: string;
  drop?: () => Promise<void>;
}

/**
 * One ready session row, written before any API starts: status reads only the database, so the
 * figure is the HTTP, auth and database path, with no container involved.
 */
export async function statusFixture(backend: "pglite" | "postgres", dataDir: string): Promise<StatusFixture> {
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

/** The API's environment for a status run on `port` (PGlite when the fixture has no database URL). */
export function statusApiEnv(port: number, dataDir: string, f: StatusFixture): Record<string, string | undefined> {
  return {
    ...process.env,
    PORT: String(port),
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    LOG_LEVEL: "warn",
    ADMIN_API_KEY: generateKey("admin"),
    PODMAN_SOCKET: process.env.PODMAN_SOCKET ?? join(dataDir, "no-podman.sock"),
    INSTANCE_ID: `bench-${f.id.slice(0, 8)}`,
    DATABASE_URL: f.databaseUrl ?? "",
  };
}

/** PSS and RSS of one process in KiB, from the kernel's rollup (zeros when it is gone). */
export function processMemory(pid: number): { pss: number; rss: number } {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
    return { pss: kib("Pss"), rss: kib("Rss") };
  } catch {
    return { pss: 0, rss: 0 };
  }
}
