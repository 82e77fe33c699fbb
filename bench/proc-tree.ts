// Processes of the benches, read from /proc: the API this process started, and a process's
// descendants (a container's init and the sandbox under it, the API's ffprobe and ffmpeg).
import { readdirSync, readFileSync } from "node:fs";

/** The API process: this process's child running src/main.ts. */
export function apiPid(): number {
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const ppid = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
      if (ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("src/main.ts")) return pid;
    } catch {}
  }
  throw new Error("the API process was not found among this process's children");
}

/** A process's children and theirs (none when it is gone). */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      if (kids) for (const k of kids.split(/\s+/).map(Number)) out.push(k, ...descendants(k));
    }
  } catch {}
  return out;
}
