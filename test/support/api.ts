// Starts the real API in-process on a loopback port, with a real database (PGlite in a temp
// dir, or a fresh database on the PostgreSQL server) and the real rootless Podman runtime.
// With TEST_API_RUNTIME=deno (or the runtime option) the API runs as its own Deno process,
// started as `deno task start` starts it; the tests themselves stay Bun's.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey } from "../../src/auth/keys";
import { loadConfig } from "../../src/config";
import { createLogger, silentLogger } from "../../src/log";
import { PodmanRuntime } from "../../src/runtime/podman-runtime";
import { ping } from "../../src/runtime/podman/system";
import { startApi, usesGateway, type RunningApi } from "../../src/api";
import { startGateway, type RunningGateway } from "../../src/egress/gateway";
import type { Subprocess } from "bun";
import { createTestDatabase } from "./databases";
import { requireEnv, waitFor } from "./env";
import { freePort } from "./net";

export type Backend = "pglite" | "postgres";
export const backends: Backend[] = ["pglite", "postgres"];

export interface CallOptions {
  key?: string | null;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface TestApi {
  api: RunningApi;
  /** Whether the API runs in this process (so `api` may be used). */
  readonly inProcess: boolean;
  url: string;
  adminKey: string;
  dataDir: string;
  env: Record<string, string>;
  runtime: PodmanRuntime;
  call(method: string, path: string, opts?: CallOptions): Promise<{ status: number; body: any; headers: Headers }>;
  createSession(name?: string, extra?: Record<string, unknown>): Promise<{ id: string; apiKey: string; body: any }>;
  /** Stops the API only (sandboxes keep running): SIGKILL in process mode, or the signal given; answers the exit code. */
  stopApi(signal?: "SIGKILL" | "SIGTERM"): Promise<number | null>;
  /** Starts the API again on the same database, data folder and port (with some settings changed). */
  restartApi(env?: Record<string, string>): Promise<void>;
  /** What the API process wrote to stdout so far (process mode with captureStdout). */
  stdout(): string;
  /** The egress gateway the test started for this API (null when it uses none). */
  readonly gateway: RunningGateway | null;
  /** Stops the gateway and starts a new one (empty: the API sends it every route again). */
  restartGateway(): Promise<void>;
  /** Deletes every session (containers, volumes), stops the API and drops its data. */
  close(): Promise<void>;
}

export type ApiRuntime = "bun" | "deno";

/** The runtime the API runs on in tests: TEST_API_RUNTIME (bun or deno), Bun when unset. */
export function testApiRuntime(): ApiRuntime {
  const chosen = process.env.TEST_API_RUNTIME ?? "bun";
  if (chosen !== "bun" && chosen !== "deno") throw new Error(`TEST_API_RUNTIME must be bun or deno, got ${chosen}`);
  return chosen;
}

const root = join(import.meta.dir, "../..");

/**
 * The command that runs the API as its own process: `bun src/main.ts`, or the command of the
 * `start` task in deno.json (run directly rather than through `deno task`, so a signal reaches
 * the API itself and not a task runner in between).
 */
export function apiCommand(runtime: ApiRuntime): string[] {
  if (runtime === "bun") return ["bun", join(root, "src/main.ts")];
  const task = (JSON.parse(readFileSync(join(root, "deno.json"), "utf8")) as { tasks: { start: string } }).tasks.start;
  if (!/^deno run [^;&|<>$`'"]+$/.test(task)) throw new Error(`deno.json's start task is not a plain \`deno run\` command: ${task}`);
  return task.split(/\s+/);
}

export interface TestApiOptions {
  /** Run the API as its own process (so it can be killed), not in-process. Always so on Deno. */
  process?: boolean;
  /** The runtime of the API process; TEST_API_RUNTIME by default (see testApiRuntime). */
  runtime?: ApiRuntime;
  /** In process mode, keep what the API writes to stdout (see TestApi.stdout). */
  captureStdout?: boolean;
  /** false: no egress gateway is started for the API (a test of one that is missing). */
  gateway?: boolean;
  /** A PostgreSQL database another test API uses too (nodes sharing it): neither made nor dropped here. */
  databaseUrl?: string;
  /** The admin key (another node's, on a shared database); a new one when unset. */
  adminKey?: string;
}

export async function startTestApi(backend: Backend, env: Record<string, string> = {}, options: TestApiOptions = {}): Promise<TestApi> {
  const apiRuntime = options.runtime ?? testApiRuntime();
  // The test runner is Bun: an API on Deno can only be another process.
  if (apiRuntime === "deno") options = { ...options, process: true };
  const dataDir = mkdtempSync(join(tmpdir(), "wa-api-"));
  // The rootless Podman user must traverse to the channel socket folder to bind-mount it.
  chmodSync(dataDir, 0o711);
  const db = backend === "postgres" && !options.databaseUrl ? await createTestDatabase() : null;
  const adminKey = options.adminKey ?? generateKey("admin");
  const fullEnv: Record<string, string> = {
    PORT: String(freePort()),
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    ADMIN_API_KEY: adminKey,
    PODMAN_SOCKET: requireEnv("PODMAN_SOCKET"),
    SANDBOX_NETWORK: "none",
    // Test receivers listen on loopback; the SSRF tests turn this off.
    ALLOW_PRIVATE_ADDRESSES: "true",
    INSTANCE_ID: `test-${crypto.randomUUID().slice(0, 8)}`,
    LOG_LEVEL: process.env.TEST_LOG ? "debug" : "error",
    ...(process.env.SANDBOX_IMAGE ? { SANDBOX_IMAGE: process.env.SANDBOX_IMAGE } : {}),
    ...(db ? { DATABASE_URL: db.url } : {}),
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...env,
  };
  let config = loadConfig(fullEnv);
  const log = process.env.TEST_LOG ? createLogger("debug") : silentLogger;
  const runtime = new PodmanRuntime(config, log);
  const url = `http://127.0.0.1:${fullEnv.PORT}`;
  let inProcess: RunningApi | null = null;
  let child: Subprocess | null = null;
  let captured = "";
  const capture = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) captured += decoder.decode(chunk, { stream: true });
  };

  // Sandboxes go out only through the egress gateway, its own process in production: here one in
  // the test's process, kept across API restarts as the real one is (tests of a missing one opt out).
  let gateway: RunningGateway | null = null;
  if (usesGateway(config) && options.gateway !== false) {
    gateway = await startGateway({ dir: config.egressDir, allow: config.egressAllow, allowPrivate: config.allowPrivateAddresses, log });
  }

  const boot = async () => {
    if (!options.process) {
      inProcess = await startApi({ config, log, runtime, printAdminKey: () => {} });
      return;
    }
    child = Bun.spawn(apiCommand(apiRuntime), {
      cwd: root,
      env: { ...process.env, ...fullEnv },
      stdout: options.captureStdout ? "pipe" : process.env.TEST_LOG ? "inherit" : "ignore",
      stderr: "inherit",
    });
    if (options.captureStdout) void capture(child.stdout as ReadableStream<Uint8Array>);
    await waitFor(() => fetch(`${url}/health`).then((r) => r.ok, () => false), 30_000, "the API process to answer /health");
  };
  const halt = async (signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): Promise<number | null> => {
    if (inProcess) await inProcess.stop();
    inProcess = null;
    let code: number | null = null;
    if (child) {
      child.kill(signal);
      code = await child.exited;
    }
    child = null;
    return code;
  };
  await boot();
  let running = true;

  const call: TestApi["call"] = async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.key !== null) headers["x-api-key"] = opts.key ?? adminKey;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
      headers["content-type"] ??= "application/json";
    }
    const res = await fetch(url + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed, headers: res.headers };
  };

  return {
    get api() {
      if (!inProcess) throw new Error("the API runs in its own process");
      return inProcess;
    },
    get inProcess() {
      return inProcess !== null;
    },
    url,
    adminKey,
    dataDir,
    env: fullEnv,
    runtime,
    call,
    async createSession(name = `s-${crypto.randomUUID().slice(0, 8)}`, extra = {}) {
      const res = await call("POST", "/sessions/create", { body: { name, ...extra } });
      if (res.status !== 201) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`);
      // Create answers before the container exists (it is made in turn behind the call); the
      // tests that use this helper want the container there, as a user does a moment later.
      const id = res.body.session.id;
      // Asked of Podman, not of the API: the tests count the API's requests (metrics).
      await waitFor(() => runtime.exists(id), 60_000, "the new session's container");
      return { id, apiKey: res.body.apiKey, body: res.body };
    },
    stdout: () => captured,
    get gateway() {
      return gateway;
    },
    async restartGateway() {
      await gateway?.stop();
      gateway = await startGateway({ dir: config.egressDir, allow: config.egressAllow, allowPrivate: config.allowPrivateAddresses, log });
    },
    async stopApi(signal) {
      const code = running ? await halt(signal) : null;
      running = false;
      return code;
    },
    async restartApi(env = {}) {
      if (running) await halt();
      Object.assign(fullEnv, env);
      config = loadConfig(fullEnv);
      await boot();
      running = true;
    },
    async close() {
      if (running) {
        const list = await call("GET", "/sessions");
        for (const s of list.body.sessions ?? []) await call("DELETE", `/sessions/${s.id}`);
        await halt();
        running = false;
      }
      // Anything a test left behind without the API (a restarted instance) goes too; an API
      // pointed at no Podman on purpose has nothing there, and one with a derived INSTANCE_ID
      // (unknown to this runtime) removed its sessions through the API above.
      if (runtime.instanceId && (await ping(runtime.client))) {
        for (const box of await runtime.list()) await runtime.remove(box.sessionId);
      }
      await gateway?.stop();
      await db?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
