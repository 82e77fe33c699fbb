// The memory sampler of bench/media.ts, as a Worker so its 50 ms ticks keep time while the
// bench's own thread (which is also the emulator: it encrypts and decrypts the files) is busy.
// Given groups of pids, it reads each process's /proc/<pid>/smaps_rollup every `everyMs` and
// keeps the largest RSS and PSS each group reached (summed over the group's processes), and,
// where a cgroup v2 folder is given, the largest memory.current and memory.stat anon/file.
// With `trees` ({name: pid}), a group named so is that process with whatever children it has at
// each tick (the API runs ffprobe and ffmpeg as children), and each child met is listed with its
// name, when it was first and last seen (ms from the start) and its own peak RSS and PSS.
// Messages: {type: "start", groups: {name: pids[]}, trees: {name: pid}, cgroups: {name: dir},
// everyMs} and {type: "stop"}, which is answered with the peaks (KiB), the children and how well
// the ticks kept time.
import { readdirSync, readFileSync } from "node:fs";
import { descendants } from "./proc-tree";

declare const self: Worker;

type Peaks = Record<string, { rss: number; pss: number }>;
type CgroupPeaks = Record<string, { current: number; anon: number; file: number }>;

/** A child process of a tree, as the sampler saw it. */
export interface Child {
  tree: string;
  pid: number;
  comm: string;
  firstMs: number;
  lastMs: number;
  rss: number;
  pss: number;
}

let timer: ReturnType<typeof setInterval> | undefined;
let peaks: Peaks = {};
let children = new Map<number, Child>();
let startedAt = 0;
let cgroupPeaks: CgroupPeaks = {};
let ticks = 0;
let lastTick = 0;
let worstGapMs = 0;

const kib = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
const statBytes = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1] ?? 0);


function rollupOf(pid: number): { rss: number; pss: number } | null {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    return { rss: kib(rollup, "Rss"), pss: kib(rollup, "Pss") };
  } catch {
    return null; // exited meanwhile
  }
}

function sample(groups: Record<string, number[]>, trees: Record<string, number>, cgroups: Record<string, string>) {
  const now = performance.now();
  if (lastTick) worstGapMs = Math.max(worstGapMs, now - lastTick);
  lastTick = now;
  ticks++;
  const all: Record<string, number[]> = { ...groups };
  for (const [name, root] of Object.entries(trees)) all[name] = [root, ...descendants(root)];
  for (const [name, pids] of Object.entries(all)) {
    let rss = 0;
    let pss = 0;
    for (const pid of pids) {
      const r = rollupOf(pid);
      if (!r) continue;
      rss += r.rss;
      pss += r.pss;
      if (name in trees && pid !== trees[name]) {
        let comm = "?";
        try {
          comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim(); // read each time: first seen before its exec, a child is still "bun"
        } catch {}
        const c = children.get(pid) ?? { tree: name, pid, comm, firstMs: now - startedAt, lastMs: 0, rss: 0, pss: 0 };
        c.comm = comm;
        c.lastMs = now - startedAt;
        c.rss = Math.max(c.rss, r.rss);
        c.pss = Math.max(c.pss, r.pss);
        children.set(pid, c);
      }
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
  const msg = event.data as
    | { type: "start"; groups: Record<string, number[]>; trees?: Record<string, number>; cgroups: Record<string, string>; everyMs: number }
    | { type: "stop" };
  if (msg.type === "start") {
    peaks = {};
    cgroupPeaks = {};
    children = new Map();
    ticks = 0;
    lastTick = 0;
    worstGapMs = 0;
    startedAt = performance.now();
    const trees = msg.trees ?? {};
    sample(msg.groups, trees, msg.cgroups);
    timer = setInterval(() => sample(msg.groups, trees, msg.cgroups), msg.everyMs);
  } else {
    clearInterval(timer);
    postMessage({ peaks, cgroupPeaks, children: [...children.values()], ticks, worstGapMs });
  }
};
