// Issue figures for the sandbox: over 10 runs through the whole stack (API process, rootless
// Podman, the real image, the emulator): create -> qr_ready, scan -> ready, check-number round
// trip; then the idle memory of a linked session's container. Needs what scripts/test.sh sets up.
import { readFileSync, readdirSync } from "node:fs";
import { containerName } from "../src/runtime/podman-runtime";
import { inspectContainer } from "../src/runtime/podman/containers";
import { startTestApi } from "../test/support/api";
import { emulatorControl, startEmulatorForContainers } from "../test/support/emulator";
import { waitFor } from "../test/support/env";
import { median, summary } from "./stats";

const runs = Number(process.argv[2] ?? 10);
const emu = await startEmulatorForContainers({ logLevel: "silent" });
const control = emulatorControl(emu);
await control("POST", "/control/numbers", { add: ["4915199990001"] });
const t = await startTestApi("pglite", { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, CHECK_NUMBER_PER_MINUTE: "10000" }, { process: true });

const state = async (id: string, key: string) => (await t.call("GET", `/sessions/${id}/status`, { key })).body.session;
const toQr: number[] = [];
const toReady: number[] = [];
const check: number[] = [];
let idle = { id: "", key: "" };
try {
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const s = await t.createSession(`bench-${i}`);
    await waitFor(async () => (await state(s.id, s.apiKey)).state === "qr_ready", 30_000, "qr_ready");
    toQr.push(performance.now() - t0);
    const qr = (await t.call("GET", `/sessions/${s.id}/qr`, { key: s.apiKey })).body.qr;
    const t1 = performance.now();
    const scan = await control("POST", "/control/scan", { qr, phoneNumber: `49151${String(10000000 + i)}` });
    if (scan.status !== 200) throw new Error(`scan failed: ${JSON.stringify(scan.body)}`);
    await waitFor(async () => (await state(s.id, s.apiKey)).state === "ready", 30_000, "ready");
    toReady.push(performance.now() - t1);
    for (let j = 0; j < 5; j++) {
      const t2 = performance.now();
      const r = await t.call("GET", `/sessions/${s.id}/check-number/4915199990001`, { key: s.apiKey });
      if (!r.body.exists) throw new Error("check-number failed");
      check.push(performance.now() - t2);
    }
    if (i < runs - 1) await t.call("DELETE", `/sessions/${s.id}`);
    else idle = { id: s.id, key: s.apiKey };
  }
  console.log(summary("create -> qr_ready", toQr));
  console.log(summary("scan -> ready", toReady));
  console.log(summary("check-number round trip", check));

  // Idle memory: let the linked session settle, then sum the RSS of the container's processes
  // (podman stats needs cgroup v2 for rootless containers; /proc works everywhere).
  await Bun.sleep(Number(process.env.IDLE_WAIT_MS ?? 40_000));
  const pid = (await inspectContainer(t.runtime.client, containerName(idle.id))).State.Pid;
  const tree = [pid, ...descendants(pid)];
  const rssKb = tree.reduce((sum, p) => sum + rss(p), 0);
  console.log(`idle linked session container: ${(rssKb / 1024).toFixed(1)} MiB RSS over ${tree.length} processes (goal <= 80 MiB); median check ${median(check).toFixed(1)} ms`);
} finally {
  await t.close();
  await emu.stop();
}

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1]);
      if (ppid === pid) out.push(Number(entry), ...descendants(Number(entry)));
    } catch {}
  }
  return out;
}
