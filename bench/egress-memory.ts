// The egress gateway's memory a connected session: the gateway as its own process (`bun run
// egress`), N session routes, then one idle tunnel per session to a loopback server (as each
// linked session holds one WebSocket to WhatsApp), directly and through dante; the gateway's PSS
// (/proc/<pid>/smaps_rollup) with the routes alone and with the tunnels open, after a GC settles.
// Usage: bun bench/egress-memory.ts [sessions=300]
// Needs what scripts/test.sh sets up (dante-server and its user), run as root.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GatewayClient } from "../src/egress/client";
import { EGRESS_SOCKET, sessionDir } from "../src/egress/tunnels";
import { silentLogger } from "../src/log";
import { waitFor } from "../test/support/env";
import { startProxies } from "../test/support/proxies";

const sessions = Number(process.argv[2] ?? 300);
const root = new URL("..", import.meta.url).pathname;
const pssKiB = (pid: number) => Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? NaN);

const held: Socket[] = [];
const server = createServer((s) => {
  s.on("error", () => {});
  held.push(s);
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
const port = (server.address() as { port: number }).port;
const proxies = await startProxies();

for (const route of [null, proxies.socksUrl] as const) {
  const dir = mkdtempSync(join(tmpdir(), "egress-mem-"));
  const gateway = Bun.spawn(["bun", "src/egress/main.ts"], {
    cwd: root,
    env: { ...process.env, DATA_DIR: dir, EGRESS_ALLOW: `127.0.0.1:${port}`, ALLOW_PRIVATE_ADDRESSES: "true", LOG_LEVEL: "error" },
    stdout: "ignore",
    stderr: "inherit",
  });
  const client = new GatewayClient(join(dir, "egress"), async () => new Map(), silentLogger);
  await waitFor(async () => (await client.health()).ok, 10_000, "the gateway");
  const ids = Array.from({ length: sessions }, () => crypto.randomUUID());
  for (const id of ids) await client.setRoute(id, route);
  await Bun.sleep(1000);
  const routesOnly = pssKiB(gateway.pid);
  const tunnels: Socket[] = [];
  for (const id of ids) {
    const s = createConnection(join(sessionDir(join(dir, "egress"), id), EGRESS_SOCKET));
    s.on("error", () => {});
    await new Promise<void>((resolve, reject) => {
      s.once("connect", () => s.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\n\r\n`));
      s.once("data", (d) => (/^HTTP\/1\.1 200/.test(d.toString()) ? resolve() : reject(new Error(d.toString()))));
    });
    tunnels.push(s);
  }
  await Bun.sleep(2000);
  const connected = pssKiB(gateway.pid);
  console.log(
    `${route ? "through dante" : "direct"}: ${sessions} routes ${(routesOnly / 1024).toFixed(1)} MiB PSS; with one idle tunnel each ${(connected / 1024).toFixed(1)} MiB: ` +
      `${((connected - routesOnly) / sessions).toFixed(1)} KiB a connected session (routes alone: ${(routesOnly / sessions).toFixed(1)} KiB a session, the process included)`,
  );
  for (const s of tunnels) s.destroy();
  gateway.kill();
  await gateway.exited;
  rmSync(dir, { recursive: true, force: true });
}
await proxies.stop();
for (const s of held) s.destroy();
server.close();
process.exit(0);
