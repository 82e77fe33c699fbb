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

/**
 * CPU seconds (user + system, all threads) used so far by each live process on the host, grouped
 * by `group(pid, comm)`; a group of null is left out. Two snapshots around a run say where its
 * CPU went (a process that exits in between is missed).
 */
export function cpuSeconds(group: (pid: number, comm: string) => string | null): Map<string, number> {
  const out = new Map<string, number>();
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
    const ticks = Number(f[11]) + Number(f[12]);
    out.set(key, (out.get(key) ?? 0) + ticks / 100); // USER_HZ is 100 on Linux
  }
  return out;
}

/** `after - before` per group, largest first. */
export function cpuDelta(before: Map<string, number>, after: Map<string, number>): [string, number][] {
  return [...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as [string, number]).sort((a, b) => b[1] - a[1]);
}
