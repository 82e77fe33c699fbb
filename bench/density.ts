// Issue figures for density, side by side in one run, for each N given:
//   - Podman alone: N `podman run -d` of the sandbox image at once (the same hardening and default
//     network as the API's containers), wall time until every one has returned (running);
//   - the API: N `POST /sessions/create` at once: each call's answer time, and the time until all
//     are `qr_ready`; then all linked through the emulator and left idle, per-session PSS: the sum
//     over the container's processes (init and sandbox), its conmon and its slirp4netns;
//   - the peers' architecture: N Baileys clients in one Bun process linked to the same emulator;
//   - the API's own PSS and RSS.
// PSS comes from /proc/<pid>/smaps_rollup: a page shared by k processes counts 1/k to each, so
// the image's executable, shared by every sandbox on overlay, is divided among them.
// Usage: bun bench/density.ts [N ...] (default 10 25 50); IDLE_SECONDS (default 20) before measuring.
// STEADY_MINUTES=10 keeps the last N linked and idle that long, printing each minute the
// sandboxes' and the API's PSS and the state changes since the hold began (reconnects show there).
// Needs what scripts/test.sh sets up (root, PODMAN_SOCKET, PODMAN_USER, TEST_DATABASE_URL).
import { $ } from "bun";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../src/config";
import { PodmanClient } from "../src/runtime/podman/client";
import { startTestApi, type TestApi } from "../test/support/api";
import { emulatorControl, startEmulatorForContainers } from "../test/support/emulator";
import { requireEnv, waitFor } from "../test/support/env";
import { median } from "./stats";
import { processMemory } from "./status-load";

const ns = process.argv.slice(2).map(Number).filter((n) => n > 0);
const sizes = ns.length ? ns : [10, 25, 50];
const idleSeconds = Number(process.env.IDLE_SECONDS ?? 20);
const user = process.env.PODMAN_USER ?? "wasandbox";
const uid = (await $`id -u ${user}`.text()).trim();
const image = loadConfig({}).sandboxImage;
const client = new PodmanClient(requireEnv("PODMAN_SOCKET"));
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const podman = (args: string[]) => $`runuser -u ${user} -- env XDG_RUNTIME_DIR=/run/user/${uid} HOME=/home/${user} podman ${args}`.cwd("/").quiet();

/** Every process: its parent, name and command line, read once per measurement. */
function processTable(): { pid: number; ppid: number; comm: string; cmdline: string }[] {
  const rows = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      rows.push({ pid, ppid, comm, cmdline });
    } catch {}
  }
  return rows;
}

function descendants(table: ReturnType<typeof processTable>, root: number): number[] {
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const p of table) if (p.ppid === out[i]) out.push(p.pid);
  return out;
}

interface ContainerMemory {
  /** The sandbox executable alone. */
  sandbox: number;
  /** Container processes, conmon and the network helper. */
  total: number;
}

/** Per-container PSS (KiB) of the containers with the given label. */
async function containerMemory(label: string): Promise<ContainerMemory[]> {
  const boxes = await client.json<{ Id: string }[]>("GET", `/containers/json?all=true&filters=${encodeURIComponent(JSON.stringify({ label: [label] }))}`);
  const table = processTable();
  const out: ContainerMemory[] = [];
  for (const box of boxes) {
    const info = await client.json<{ State: { Pid: number; ConmonPid: number; Running: boolean }; NetworkSettings: { SandboxKey: string } }>("GET", `/containers/${box.Id}/json`);
    if (!info.State.Running) continue;
    const pids = descendants(table, info.State.ConmonPid);
    const netns = info.NetworkSettings.SandboxKey;
    if (netns) for (const p of table) if (p.comm === "slirp4netns" && p.cmdline.includes(netns)) pids.push(p.pid);
    const sandbox = table.filter((p) => pids.includes(p.pid) && p.comm.startsWith("wa-sandbox")).reduce((s, p) => s + processMemory(p.pid).pss, 0);
    out.push({ sandbox, total: pids.reduce((s, pid) => s + processMemory(pid).pss, 0) });
  }
  return out;
}

/** N containers of the image at once through the CLI, as the API would make them. */
async function podmanAlone(n: number): Promise<number> {
  const tag = `bench-density-${Date.now()}`;
  const flags = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--user", "10001:10001", "--init", "--tmpfs", "/tmp", "--label", `bench=${tag}`];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      podman(["run", "-d", "--name", `${tag}-${i}`, ...flags, "-v", `${tag}-${i}:/data:U`, "-e", "SESSION_ID=bench", "-e", "CHANNEL_URL=ws://127.0.0.1:9/x", "-e", "CHANNEL_TOKEN=x", image]),
    ),
  );
  const took = performance.now() - t0;
  await podman(["rm", "-f", "-t", "0", "--filter", `label=bench=${tag}`]).nothrow();
  await podman(["volume", "prune", "-f", "--filter", `label!=wa.session-id`]).nothrow();
  return took;
}

/** N Baileys clients in one Bun process (bench/density-peer.ts), linked; its PSS once idle. */
async function peerProcess(n: number, emu: { wsUrl: string; controlUrl: string; trustRoot: string }, phoneBase: number): Promise<{ pss: number; linkedIn: number }> {
  const child = Bun.spawn(["bun", join(import.meta.dir, "density-peer.ts"), String(n), emu.wsUrl, emu.controlUrl, emu.trustRoot, String(phoneBase)], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = (child.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("density-peer.ts ended before linking its clients");
    text += new TextDecoder().decode(value);
  }
  const { linkedMs } = JSON.parse(text.split("\n")[0]!);
  await Bun.sleep(idleSeconds * 1000);
  Bun.gc(true);
  const { pss } = processMemory(child.pid);
  child.kill();
  await child.exited;
  return { pss, linkedIn: linkedMs };
}

/** N linked sessions left idle: memory and state changes once a minute. */
async function holdSteady(sessions: { id: string; apiKey: string }[], minutes: number): Promise<void> {
  const since = Date.now();
  console.log(`\nsteady: ${sessions.length} linked idle sessions for ${minutes} min`);
  for (let minute = 0; minute <= minutes; minute++) {
    if (minute > 0) await Bun.sleep(60_000);
    const boxes = await containerMemory(`wa.instance=${t.env.INSTANCE_ID}`);
    const changes = await Promise.all(
      sessions.map(async (s) => ((await t.call("GET", `/sessions/${s.id}/events`, { key: s.apiKey })).body.events as { at: string }[]).filter((e) => Date.parse(e.at) > since).length),
    );
    const states = new Map<string, number>();
    for (const row of (await t.call("GET", "/sessions")).body.sessions as { state: string }[]) states.set(row.state, (states.get(row.state) ?? 0) + 1);
    console.log(
      `  ${String(minute).padStart(2)} min: sandboxes ${mib(boxes.reduce((a, b) => a + b.total, 0))} in all (${boxes.length} running), API PSS ${mib(processMemory(apiPid).pss)}; ` +
        `state changes since the start ${changes.reduce((a, b) => a + b, 0)}; states ${JSON.stringify(Object.fromEntries(states))}`,
    );
  }
}

const emu = await startEmulatorForContainers({ logLevel: "silent" });
const control = emulatorControl(emu);
const driver = await $`runuser -u ${user} -- env XDG_RUNTIME_DIR=/run/user/${uid} HOME=/home/${user} podman info --format {{.Store.GraphDriverName}}`.cwd("/").text();
console.log(`image ${image}, Podman storage driver ${driver.trim()}, idle ${idleSeconds} s before each memory reading`);
const max = Math.max(...sizes);
const t: TestApi = await startTestApi(
  "postgres",
  // The default network (slirp4netns), as in production; the emulator is reached over its unix socket.
  { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, SANDBOX_NETWORK: "", MAX_SESSIONS: String(max), CREATE_RATE_LIMIT_PER_MINUTE: "100000", LOG_LEVEL: "warn" },
  { process: true },
);
const apiPid = Number((await $`pgrep -n -f ${"src/main.ts"}`.text()).trim());
try {
  let phone = 20000000;
  for (const n of sizes) {
    const podmanMs = await podmanAlone(n);

    const t0 = performance.now();
    const answers: number[] = [];
    const made = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        // The route itself, not t.createSession (which also waits for the container).
        const c0 = performance.now();
        const res = await t.call("POST", "/sessions/create", { body: { name: `density-${n}-${i}` } });
        answers.push(performance.now() - c0);
        if (res.status !== 201) throw new Error(`create answered ${res.status}: ${JSON.stringify(res.body)}`);
        return { id: res.body.session.id as string, apiKey: res.body.apiKey as string };
      }),
    );
    const states = async () => new Map<string, string>(((await t.call("GET", "/sessions")).body.sessions as { id: string; state: string }[]).map((s) => [s.id, s.state]));
    await waitFor(async () => {
      const now = await states();
      return made.every((s) => now.get(s.id) === "qr_ready");
    }, 600_000, "every session qr_ready");
    const allQr = performance.now() - t0;

    const l0 = performance.now();
    await Promise.all(
      made.map(async (s) => {
        const qr = (await t.call("GET", `/sessions/${s.id}/qr`, { key: s.apiKey })).body.qr;
        await control("POST", "/control/scan", { qr, phoneNumber: `49151${phone++}` });
      }),
    );
    await waitFor(async () => {
      const now = await states();
      return made.every((s) => now.get(s.id) === "ready");
    }, 600_000, "every session ready");
    const allReady = performance.now() - l0;

    await Bun.sleep(idleSeconds * 1000);
    const boxes = await containerMemory(`wa.instance=${t.env.INSTANCE_ID}`);
    const api = processMemory(apiPid);
    const per = boxes.reduce((s, b) => s + b.total, 0) / boxes.length;
    const perSandbox = boxes.reduce((s, b) => s + b.sandbox, 0) / boxes.length;
    console.log(`\nN=${n}`);
    console.log(`  podman run -d x${n} at once (CLI):        ${secs(podmanMs)}`);
    console.log(`  API: create answers                      median ${secs(median(answers))}, worst ${secs(Math.max(...answers))}`);
    console.log(`  API: create -> all qr_ready              ${secs(allQr)} (${(allQr / podmanMs).toFixed(2)}x Podman alone; goal at most 2x)`);
    console.log(`  API: scan -> all ready                   ${secs(allReady)}`);
    console.log(`  per session, linked and idle (PSS)       ${mib(per)} (sandbox process ${mib(perSandbox)}; with init, conmon, slirp4netns) over ${boxes.length} containers; goal at most 16 MiB`);
    console.log(`  API process                              PSS ${mib(api.pss)}, RSS ${mib(api.rss)}`);
    const peer = await peerProcess(n, emu, phone);
    phone += n;
    console.log(`  peers: ${n} Baileys clients in one Bun     ${mib(peer.pss / n)} per client (${mib(peer.pss)} in all), linked in ${secs(peer.linkedIn)} (ten at a time)`);

    const steadyMinutes = Number(process.env.STEADY_MINUTES ?? 0);
    if (steadyMinutes > 0 && n === sizes.at(-1)) await holdSteady(made, steadyMinutes);
    await Promise.all(made.map((s) => t.call("DELETE", `/sessions/${s.id}`)));
  }
} finally {
  await t.close();
  await emu.stop();
}
