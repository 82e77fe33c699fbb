// Real proxies with authentication on loopback, as a session's proxy: Debian's dante-server
// (SOCKS5, username/password checked against a system user) and tinyproxy (HTTP CONNECT with
// Basic auth), each a foreground child process with its own config and log in a temporary
// folder. scripts/test.sh installs both and makes the system user (as root); a missing piece
// fails loudly with the command that provides it.
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./net";
import { waitFor } from "./env";

/** The system user dante checks (scripts/test.sh makes it with this password). */
export const PROXY_USER = "waproxy";
export const PROXY_PASSWORD = "proxy-pass-1";

export interface RunningProxies {
  socksUrl: string;
  httpUrl: string;
  socksPort: number;
  httpPort: number;
  /** A loopback port nothing listens on: a proxy there is unreachable. */
  closedPort: number;
  socksLog(): string;
  httpLog(): string;
  stopSocks(): Promise<void>;
  startSocks(): Promise<void>;
  stop(): Promise<void>;
}

function need(path: string, pkg: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: run the suite with 'bash scripts/test.sh' (it installs ${pkg})`);
}

async function listening(port: number): Promise<boolean> {
  try {
    const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    s.end();
    return true;
  } catch {
    return false;
  }
}

/** A process's children and theirs (from /proc), deepest last. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {}
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

export async function startProxies(): Promise<RunningProxies> {
  need("/usr/sbin/danted", "dante-server");
  need("/usr/bin/tinyproxy", "tinyproxy");
  if (!readFileSync("/etc/passwd", "utf8").includes(`\n${PROXY_USER}:`) && !readFileSync("/etc/passwd", "utf8").startsWith(`${PROXY_USER}:`)) {
    throw new Error(`the system user ${PROXY_USER} is missing: run the suite with 'bash scripts/test.sh' (it makes the proxies' user)`);
  }
  const dir = mkdtempSync(join(tmpdir(), "proxies-"));
  chmodSync(dir, 0o777); // tinyproxy drops to nobody and writes its log here
  const socksPort = freePort();
  const httpPort = freePort();
  const closedPort = freePort();
  const socksLogPath = join(dir, "danted.log");
  const httpLogPath = join(dir, "tinyproxy.log");
  writeFileSync(
    join(dir, "danted.conf"),
    [
      `logoutput: ${socksLogPath}`,
      `internal: 127.0.0.1 port = ${socksPort}`,
      "external: 127.0.0.1",
      "clientmethod: none",
      "socksmethod: username",
      "user.privileged: root",
      "user.unprivileged: nobody",
      // Rules take one setting a line.
      "client pass {\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  log: error connect disconnect\n}",
      "socks pass {\n  from: 127.0.0.0/8 to: 127.0.0.0/8\n  command: connect\n  log: error connect disconnect\n}",
      "socks block {\n  from: 0.0.0.0/0 to: 0.0.0.0/0\n  log: error connect\n}",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(dir, "tinyproxy.conf"),
    [
      "User nobody",
      "Group nogroup",
      `Port ${httpPort}`,
      "Listen 127.0.0.1",
      "Timeout 60",
      `LogFile "${httpLogPath}"`,
      "LogLevel Connect",
      "MaxClients 100",
      "Allow 127.0.0.1",
      `BasicAuth ${PROXY_USER} ${PROXY_PASSWORD}`,
      "",
    ].join("\n"),
  );
  writeFileSync(httpLogPath, "");
  chmodSync(httpLogPath, 0o666);
  let socks: ReturnType<typeof Bun.spawn> | null = null;
  const startSocks = async () => {
    socks = Bun.spawn(["/usr/sbin/danted", "-f", join(dir, "danted.conf"), "-p", join(dir, "danted.pid")], { stdout: "ignore", stderr: "ignore" });
    await waitFor(() => listening(socksPort), 10_000, "dante listening");
  };
  const stopSocks = async () => {
    // dante relays from child processes (renamed, outliving their parent): the whole tree goes at
    // once, as a proxy that stops does, and its connections reset.
    if (socks) for (const pid of [socks.pid, ...descendants(socks.pid)]) try { process.kill(pid, "SIGKILL"); } catch {}
    await socks?.exited;
    socks = null;
    await waitFor(async () => !(await listening(socksPort)), 10_000, "dante stopped");
  };
  await startSocks();
  const http = Bun.spawn(["/usr/bin/tinyproxy", "-d", "-c", join(dir, "tinyproxy.conf")], { stdout: "ignore", stderr: "ignore" });
  await waitFor(() => listening(httpPort), 10_000, "tinyproxy listening");
  const read = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : "");
  return {
    socksUrl: `socks5://${PROXY_USER}:${PROXY_PASSWORD}@127.0.0.1:${socksPort}`,
    httpUrl: `http://${PROXY_USER}:${PROXY_PASSWORD}@127.0.0.1:${httpPort}`,
    socksPort,
    httpPort,
    closedPort,
    socksLog: () => read(socksLogPath),
    httpLog: () => read(httpLogPath),
    stopSocks,
    startSocks,
    async stop() {
      await stopSocks().catch(() => {});
      http.kill("SIGTERM");
      await http.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
