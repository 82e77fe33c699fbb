// The watcher of bench/media-profile.ts, as a Worker so it keeps time while the bench's thread
// (which is also the emulator: its contact downloads and decrypts the file) is busy. Every
// `everyMs` it records, on one clock (performance.timeOrigin + now()):
// - the size of each file in the watched folders (a file by its path; a folder's files appear,
//   grow and go): the API's multipart temporary files, its media store's temporary files, the
//   sandbox's Baileys temporary files (through /proc/<sandbox pid>/root);
// - the CPU time (user + system, in clock ticks) and the RSS (KiB, from statm) of each watched process;
// - the API's child processes (ffprobe, ffmpeg) and when each was seen.
// Messages: {type: "start", dirs: {name: {dir, depth, match?}}, pids: {name: pid}, childrenOf: pid, everyMs}
// and {type: "stop"}, answered with {files, cpu, children, ticks, worstGapMs}.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

declare const self: Worker;

const now = () => performance.timeOrigin + performance.now();

interface FileTrace {
  group: string;
  path: string;
  first: number;
  /** When it last grew, and to what size. */
  grown: number;
  size: number;
  last: number;
}
interface ChildTrace {
  pid: number;
  comm: string;
  first: number;
  last: number;
  /** CPU ticks when last seen. */
  ticks: number;
}

let timer: ReturnType<typeof setInterval> | undefined;
let files = new Map<string, FileTrace>();
let children = new Map<number, ChildTrace>();
let cpu: { t: number; ticks: Record<string, number>; rss: Record<string, number> }[] = [];
let ticks = 0;
let lastTick = 0;
let worstGapMs = 0;

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return NaN;
  }
}

/** The files `depth` levels under `dir`; with `match`, only under top-level names that start with it. */
function rssKiB(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]) * 4;
  } catch {
    return NaN;
  }
}

function list(dir: string, depth: number, match?: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  if (match) names = names.filter((n) => n.startsWith(match));
  if (depth <= 1) return names.map((n) => join(dir, n));
  return names.flatMap((n) => list(join(dir, n), depth - 1));
}

function sample(dirs: Record<string, { dir: string; depth: number; match?: string }>, pids: Record<string, number>, childrenOf: number) {
  const t = now();
  if (lastTick) worstGapMs = Math.max(worstGapMs, t - lastTick);
  lastTick = t;
  ticks++;
  for (const [group, { dir, depth, match }] of Object.entries(dirs)) {
    for (const path of list(dir, depth, match)) {
      let size: number;
      try {
        const st = statSync(path);
        if (!st.isFile()) continue;
        size = st.size;
      } catch {
        continue;
      }
      const f = files.get(path);
      if (!f) files.set(path, { group, path, first: t, grown: t, size, last: t });
      else {
        if (size !== f.size) {
          f.size = size;
          f.grown = t;
        }
        f.last = t;
      }
    }
  }
  const c: Record<string, number> = {};
  const r: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    c[name] = cpuTicks(pid);
    r[name] = rssKiB(pid);
  }
  cpu.push({ t, ticks: c, rss: r });
  try {
    for (const tid of readdirSync(`/proc/${childrenOf}/task`)) {
      const kids = readFileSync(`/proc/${childrenOf}/task/${tid}/children`, "utf8").trim();
      if (!kids) continue;
      for (const k of kids.split(/\s+/).map(Number)) {
        const known = children.get(k);
        const ticksNow = cpuTicks(k);
        // The name read again each time: first seen between fork and exec, a child is still "bun".
        let comm = known?.comm ?? "?";
        try {
          comm = readFileSync(`/proc/${k}/comm`, "utf8").trim();
        } catch {}
        if (known) {
          known.last = t;
          known.comm = comm;
          if (Number.isFinite(ticksNow)) known.ticks = ticksNow;
        } else children.set(k, { pid: k, comm, first: t, last: t, ticks: Number.isFinite(ticksNow) ? ticksNow : 0 });
      }
    }
  } catch {}
}

self.onmessage = (event: MessageEvent) => {
  const msg = event.data as
    | { type: "start"; dirs: Record<string, { dir: string; depth: number; match?: string }>; pids: Record<string, number>; childrenOf: number; everyMs: number }
    | { type: "stop" };
  if (msg.type === "start") {
    files = new Map();
    children = new Map();
    cpu = [];
    ticks = 0;
    lastTick = 0;
    worstGapMs = 0;
    sample(msg.dirs, msg.pids, msg.childrenOf);
    timer = setInterval(() => sample(msg.dirs, msg.pids, msg.childrenOf), msg.everyMs);
  } else {
    clearInterval(timer);
    postMessage({ files: [...files.values()], children: [...children.values()], cpu, ticks, worstGapMs });
  }
};
