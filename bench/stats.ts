// Small helpers the benchmark scripts share.
import { readdirSync, readFileSync } from "node:fs";

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function worst(xs: number[]): number {
  return Math.max(...xs);
}

export const ms = (x: number) => `${x.toFixed(1)} ms`;

export function summary(label: string, xs: number[]): string {
  return `${label.padEnd(34)} median ${ms(median(xs)).padStart(10)}   worst ${ms(worst(xs)).padStart(10)}   (n=${xs.length})`;
}

/** CPU seconds (user + system, all threads) a process used so far, and the group it counts in. */
export type CpuSnapshot = Map<number, { group: string; seconds: number }>;

/**
 * Every live process on the host that `group(pid, comm)` names a group for (null leaves it out),
 * with the CPU it used so far. Two snapshots around a run say where its CPU went.
 */
export function cpuSeconds(group: (pid: number, comm: string) => string | null): CpuSnapshot {
  const out: CpuSnapshot = new Map();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const key = group(pid, comm);
    if (key === null) continue;
    // Fields after "pid (comm) ": state is the 1st, utime the 12th and stime the 13th.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out.set(pid, { group: key, seconds: (Number(f[11]) + Number(f[12])) / 100 }); // USER_HZ is 100 on Linux
  }
  return out;
}

/**
 * CPU seconds each group used between two snapshots, largest first: a process alive at both
 * counts its difference, one started in between all it used; one that exited in between is missed.
 */
export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot): [string, number][] {
  const groups = new Map<string, number>();
  for (const [pid, { group, seconds }] of after) {
    const earlier = before.get(pid);
    const used = earlier && earlier.group === group ? seconds - earlier.seconds : seconds;
    groups.set(group, (groups.get(group) ?? 0) + used);
  }
  return [...groups].sort((a, b) => b[1] - a[1]);
}

/** All the CPU seconds of a `cpuDelta`. */
export function cpuTotal(cpu: [string, number][]): number {
  return cpu.reduce((sum, [, seconds]) => sum + seconds, 0);
}
