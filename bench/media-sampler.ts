// The memory sampler of bench/media.ts, as a Worker so its 50 ms ticks keep time while the
// bench's own thread (which is also the emulator: it encrypts and decrypts the files) is busy.
// Given groups of pids, it reads each process's /proc/<pid>/smaps_rollup every `everyMs` and
// keeps the largest RSS and PSS each group reached (summed over the group's processes), and,
// where a cgroup v2 folder is given, the largest memory.current and memory.stat anon/file.
// Messages: {type: "start", groups: {name: pids[]}, cgroups: {name: dir}, everyMs} and
// {type: "stop"}, which is answered with the peaks (KiB) and how well the ticks kept time.
import { readFileSync } from "node:fs";

declare const self: Worker;

type Peaks = Record<string, { rss: number; pss: number }>;
type CgroupPeaks = Record<string, { current: number; anon: number; file: number }>;

let timer: ReturnType<typeof setInterval> | undefined;
let peaks: Peaks = {};
let cgroupPeaks: CgroupPeaks = {};
let ticks = 0;
let lastTick = 0;
let worstGapMs = 0;

const kib = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
const statBytes = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1] ?? 0);

function sample(groups: Record<string, number[]>, cgroups: Record<string, string>) {
  const now = performance.now();
  if (lastTick) worstGapMs = Math.max(worstGapMs, now - lastTick);
  lastTick = now;
  ticks++;
  for (const [name, pids] of Object.entries(groups)) {
    let rss = 0;
    let pss = 0;
    for (const pid of pids) {
      try {
        const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
        rss += kib(rollup, "Rss");
        pss += kib(rollup, "Pss");
      } catch {} // exited meanwhile
    }
    const p = (peaks[name] ??= { rss: 0, pss: 0 });
    p.rss = Math.max(p.rss, rss);
    p.pss = Math.max(p.pss, pss);
  }
  for (const [name, dir] of Object.entries(cgroups)) {
    try {
      const current = Number(readFileSync(`${dir}/memory.current`, "utf8")) / 1024;
      const stat = readFileSync(`${dir}/memory.stat`, "utf8");
      const c = (cgroupPeaks[name] ??= { current: 0, anon: 0, file: 0 });
      c.current = Math.max(c.current, current);
      c.anon = Math.max(c.anon, statBytes(stat, "anon") / 1024);
      c.file = Math.max(c.file, statBytes(stat, "file") / 1024);
    } catch {}
  }
}

self.onmessage = (event: MessageEvent) => {
  const msg = event.data as { type: "start"; groups: Record<string, number[]>; cgroups: Record<string, string>; everyMs: number } | { type: "stop" };
  if (msg.type === "start") {
    peaks = {};
    cgroupPeaks = {};
    ticks = 0;
    lastTick = 0;
    worstGapMs = 0;
    sample(msg.groups, msg.cgroups);
    timer = setInterval(() => sample(msg.groups, msg.cgroups), msg.everyMs);
  } else {
    clearInterval(timer);
    postMessage({ peaks, cgroupPeaks, ticks, worstGapMs });
  }
};
