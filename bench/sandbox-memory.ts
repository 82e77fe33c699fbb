// Where an idle linked sandbox's memory goes, for tuning the sandbox image: K sessions created,
// linked through the emulator and left idle, then per sandbox process (found by the container's
// State.Pid tree) PSS split into anonymous (its own: heap, malloc) and file-backed (the
// executable's pages, shared between containers on overlay), and CPU time spent so far.
// Usage: bun bench/sandbox-memory.ts [K=4] [idle seconds=15]; SMAPS_OUT=file writes the first
// sandbox's /proc/<pid>/smaps there. Needs what scripts/test.sh sets up.
import { readFileSync, writeFileSync } from "node:fs";
import { startTestApi } from "../test/support/api";
import { emulatorControl, startEmulatorForContainers } from "../test/support/emulator";
import { waitFor } from "../test/support/env";

const k = Number(process.argv[2] ?? 4);
const idleSeconds = Number(process.argv[3] ?? 15);
const emu = await startEmulatorForContainers({ logLevel: "silent" });
const control = emulatorControl(emu);
const t = await startTestApi("pglite", { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, SANDBOX_NETWORK: "" }, { process: true });
const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
try {
  const phoneBase = 30000000 + Math.floor(Math.random() * 100000) * 10;
  const ids = await Promise.all(
    Array.from({ length: k }, async (_, i) => {
      const s = await t.createSession(`mem-${i}`);
      const state = async () => (await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).body.session.state;
      await waitFor(async () => (await state()) === "qr_ready", 60_000, "qr_ready");
      const qr = (await t.call("GET", `/sessions/${s.id}/qr`, { key: s.apiKey })).body.qr;
      await control("POST", "/control/scan", { qr, phoneNumber: `49151${phoneBase + i}` });
      await waitFor(async () => (await state()) === "ready", 60_000, "ready");
      return s.id;
    }),
  );
  await Bun.sleep(idleSeconds * 1000);
  const rows: { anon: number; file: number; rss: number; cpuMs: number }[] = [];
  for (const id of ids) {
    const info = await t.runtime.client.json<{ State: { Pid: number } }>("GET", `/containers/wa-session-${id}/json`);
    // The container's PID 1 is the init; the sandbox is its child.
    const children = readFileSync(`/proc/${info.State.Pid}/task/${info.State.Pid}/children`, "utf8").trim().split(/\s+/).map(Number);
    const pid = children.find((p) => readFileSync(`/proc/${p}/comm`, "utf8").startsWith("wa-sandbox"))!;
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    rows.push({ anon: field(rollup, "Pss_Anon"), file: field(rollup, "Pss_File"), rss: field(rollup, "Rss"), cpuMs: (Number(stat[11]) + Number(stat[12])) * 10 });
    if (process.env.SMAPS_OUT && rows.length === 1) writeFileSync(process.env.SMAPS_OUT, readFileSync(`/proc/${pid}/smaps`, "utf8"));
  }
  const mean = (f: (r: (typeof rows)[number]) => number) => (rows.reduce((a, r) => a + f(r), 0) / rows.length / 1024).toFixed(1);
  console.log(`${k} idle linked sandboxes after ${idleSeconds} s: anonymous ${rows.map((r) => (r.anon / 1024).toFixed(1)).join(" ")} MiB (mean ${mean((r) => r.anon)}); file-backed PSS mean ${mean((r) => r.file)} MiB; RSS mean ${mean((r) => r.rss)} MiB; CPU to here mean ${(rows.reduce((a, r) => a + r.cpuMs, 0) / rows.length).toFixed(0)} ms`);
} finally {
  await t.close();
  await emu.stop();
}
