// The egress gateway's cost, whole stack, in one run: the same messages sent by linked sessions
// whose sandboxes reach the emulator directly (its bind-mounted unix socket: the baseline, no
// gateway) and through the gateway (the emulator over TCP, the gateway as its own process, as in
// production; then again with every session behind a real dante SOCKS5 proxy). Rounds alternate
// the setups; the messages go one at a time (the sessions in turn), so a latency is the path's
// and not a queue's. For each: POST -> 201 latency p50/p99 (the API answers on WhatsApp's server ack),
// and the CPU a message by part (sandboxes, API, gateway, proxy, PostgreSQL, bench+emulator),
// from /proc; and the gateway's memory (PSS from /proc/<pid>/smaps_rollup) before the sessions
// connect and with them connected, per session.
// Usage: bun bench/egress.ts [sessions=5] [messages per session=40] [rounds=2]
// Needs what scripts/test.sh sets up (Podman, PostgreSQL, dante-server), run as root.
import { readFileSync } from "node:fs";
import { startEmulator, type RunningEmulator } from "../test/emulator";
import { startTestApi, type TestApi } from "../test/support/api";
import { emulatorControl, startEmulatorForContainers } from "../test/support/emulator";
import { waitFor } from "../test/support/env";
import { startProxies, type RunningProxies } from "../test/support/proxies";
import { cpuDelta, cpuSeconds, cpuTotal, median } from "./stats";

const sessions = Number(process.argv[2] ?? 5);
const perSession = Number(process.argv[3] ?? 40);
const rounds = Number(process.argv[4] ?? 2);
const CONTACT = "4915199990007";
const root = new URL("..", import.meta.url).pathname;

type Mode = "direct" | "gateway" | "gateway+socks5";
interface Stack {
  mode: Mode;
  emu: RunningEmulator;
  t: TestApi;
  gateway: ReturnType<typeof Bun.spawn> | null;
  linked: { id: string; key: string }[];
  pss: { before: number; connected: number } | null;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const pssKiB = (pid: number) => Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? NaN);

let proxies: RunningProxies | null = null;

async function start(mode: Mode, index: number): Promise<Stack> {
  const direct = mode === "direct";
  const emu = direct ? await startEmulatorForContainers({ logLevel: "silent" }) : await startEmulator({ logLevel: "silent" });
  const control = emulatorControl(emu);
  await control("POST", "/control/numbers", { add: [CONTACT] });
  const env: Record<string, string> = { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, SEND_PER_MINUTE: "100000", LOG_LEVEL: "warn" };
  if (!direct) {
    const mediaPort = new URL(emu.mediaUrl).port;
    Object.assign(env, { WA_MEDIA_CA: emu.mediaCa, WA_MEDIA_HOST: `localhost:${mediaPort}`, EGRESS_ALLOW: `127.0.0.1:${new URL(emu.wsUrl).port},localhost:${mediaPort}` });
  }
  // The gateway as its own process (its CPU and memory apart from the bench's), started with the API's environment.
  const t = await startTestApi("postgres", env, { process: true, gateway: false });
  let gateway: ReturnType<typeof Bun.spawn> | null = null;
  let pssBefore = 0;
  if (!direct) {
    gateway = Bun.spawn(["bun", "src/egress/main.ts"], { cwd: root, env: { ...process.env, ...t.env }, stdout: "ignore", stderr: "inherit" });
    await waitFor(async () => (await t.call("GET", "/ready", { key: null })).body.egress === "ok", 30_000, "the gateway ready");
    pssBefore = pssKiB(gateway.pid);
  }
  const linked: Stack["linked"] = [];
  for (let i = 0; i < sessions; i++) {
    const s = await t.createSession(`egress-${index}-${i}`, mode === "gateway+socks5" ? { proxy: proxies!.socksUrl } : {});
    await waitFor(async () => (await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).body.session.state === "qr_ready", 60_000, "qr_ready");
    const qr = (await t.call("GET", `/sessions/${s.id}/qr`, { key: s.apiKey })).body.qr;
    await control("POST", "/control/scan", { qr, phoneNumber: `49151${String(30000000 + index * 100 + i)}` });
    await waitFor(async () => (await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).body.session.state === "ready", 60_000, "ready");
    linked.push({ id: s.id, key: s.apiKey });
  }
  for (const s of linked) await t.call("POST", `/sessions/${s.id}/messages`, { key: s.key, body: { to: CONTACT, text: "warm-up" } });
  await Bun.sleep(1000);
  return { mode, emu, t, gateway, linked, pss: gateway ? { before: pssBefore, connected: pssKiB(gateway.pid) } : null };
}

async function stop(s: Stack) {
  await s.t.close();
  s.gateway?.kill();
  await s.gateway?.exited;
  await s.emu.stop();
}

async function round(s: Stack) {
  const gatewayPid = s.gateway?.pid;
  const component = (pid: number, comm: string) =>
    pid === process.pid ? "bench+emulator" : pid === gatewayPid ? "gateway" : comm === "wa-sandbox" ? "sandboxes" : comm === "postgres" ? "postgres" : comm === "danted" ? "proxy" : comm === "bun" || comm === "deno" ? "api" : "other";
  const before = cpuSeconds(component);
  const latencies: number[] = [];
  let sent = 0;
  const started = performance.now();
  // One message at a time across all sessions: the latency is the path's, not a queue's.
  for (let n = 0; n < perSession; n++) {
    for (const x of s.linked) {
      const t0 = performance.now();
      const res = await s.t.call("POST", `/sessions/${x.id}/messages`, { key: x.key, body: { to: CONTACT, text: `${s.mode} ${n}` } });
      latencies.push(performance.now() - t0);
      if (res.status !== 201 || res.body.message.status === "pending") throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
      sent++;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuDelta(before, cpuSeconds(component));
  return { p50: pct(latencies, 50), p99: pct(latencies, 99), perSecond: sent / seconds, cpuMs: (cpuTotal(cpu) * 1000) / sent, parts: cpu.map(([k, v]) => [k, (v * 1000) / sent] as const) };
}

proxies = await startProxies();
const modes: Mode[] = ["direct", "gateway", "gateway+socks5"];
const results = new Map<Mode, Awaited<ReturnType<typeof round>>[]>(modes.map((m) => [m, []]));
const memory = new Map<Mode, { before: number; connected: number }>();
try {
  for (let r = 0; r < rounds; r++) {
    // One stack at a time, in turn: the machine's state drifts alike for each.
    for (const mode of r % 2 === 0 ? modes : [...modes].reverse()) {
      const stack = await start(mode, r * 10 + modes.indexOf(mode));
      try {
        const result = await round(stack);
        results.get(mode)!.push(result);
        if (stack.pss) memory.set(mode, stack.pss);
        console.log(
          `round ${r + 1} ${mode}: ${result.perSecond.toFixed(0)} messages/s, POST -> 201 p50 ${result.p50.toFixed(2)} ms p99 ${result.p99.toFixed(2)} ms; CPU ${result.cpuMs.toFixed(2)} ms a message (` +
            result.parts.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ") +
            ")",
        );
      } finally {
        await stop(stack);
      }
    }
  }
} finally {
  await proxies.stop();
}

const base = results.get("direct")!;
const baseP50 = median(base.map((x) => x.p50));
const baseCpu = median(base.map((x) => x.cpuMs));
console.log(`\n${sessions} sessions x ${perSession} messages, ${rounds} rounds each (medians):`);
for (const mode of modes) {
  const xs = results.get(mode)!;
  const p50 = median(xs.map((x) => x.p50));
  const cpu = median(xs.map((x) => x.cpuMs));
  const gatewayCpu = median(xs.map((x) => x.parts.find(([k]) => k === "gateway")?.[1] ?? 0));
  console.log(
    `${mode.padEnd(15)} p50 ${p50.toFixed(2)} ms (${mode === "direct" ? "baseline" : `${p50 - baseP50 >= 0 ? "+" : ""}${(p50 - baseP50).toFixed(2)} ms; goal at most +1 ms`}), ` +
      `CPU ${cpu.toFixed(2)} ms a message (${mode === "direct" ? "baseline" : `${(((cpu - baseCpu) / baseCpu) * 100).toFixed(1)}%, of which the gateway ${gatewayCpu.toFixed(2)} ms; goal at most +10%`})`,
  );
}
for (const [mode, m] of memory) {
  console.log(`gateway memory (${mode}): PSS ${(m.before / 1024).toFixed(1)} MiB before the sessions, ${(m.connected / 1024).toFixed(1)} MiB with ${sessions} connected: ${((m.connected - m.before) / sessions).toFixed(0)} KiB a connected session`);
}
process.exit(0);
