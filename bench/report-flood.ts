// Issue figure: one session's status latency while another session's sandbox floods the channel
// with small valid reports (10,000 a second, reconnecting whenever it is cut off), against the
// same API with no flood in the same run. The API, the flooding sandbox and wrk (the driver,
// one thread) are each their own process; the reports are real upserts of contacts.
// Then the reconnect flood: reports of 64 KiB, 470 a connection, a new connection after each
// batch, for as long; the API's memory (PSS and RSS from /proc) before, at its peak, and after.
// Usage: bun bench/report-flood.ts [pglite|postgres] [seconds=20] [reports a second=10000]  (apt-get install wrk)
// postgres needs BENCH_DATABASE_URL (or TEST_DATABASE_URL): an admin URL; a database is made.
import { spawn } from "bun";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey, hashKey } from "../src/auth/keys";
import { DEFAULT_INTAKE } from "../src/channel/intake";
import { ChannelTokens } from "../src/channel/tokens";
import { openDatabase } from "../src/db/client";
import { SessionRepository } from "../src/db/session-repository";
import { waitFor } from "../test/support/env";
import { freePort } from "../test/support/net";
import { formatLoad, processMemory, statusApiEnv, statusFixture, wrk } from "./status-load";

const backend = (process.argv[2] ?? "postgres") as "pglite" | "postgres";
const seconds = Number(process.argv[3] ?? 20);
const rate = Number(process.argv[4] ?? 10_000);
const root = join(import.meta.dir, "..");

const dataDir = mkdtempSync(join(tmpdir(), "wa-flood-"));
const f = await statusFixture(backend, dataDir);
// The flooding session: ready, on a launch whose token the flooder holds.
const flooder = { id: randomUUID(), launchId: randomUUID() };
{
  const db = await openDatabase({ databaseUrl: f.databaseUrl, dataDir });
  await new SessionRepository(db.db).insert({ id: flooder.id, name: "flooder", state: "ready", keyHash: hashKey(generateKey("session")), launchId: flooder.launchId, phoneNumber: "4915112340099" });
  await db.close();
}
const channelSecret = randomUUID() + randomUUID();
const port = freePort();
const api = spawn(["bun", join(root, "src/main.ts")], { stdout: "ignore", stderr: "inherit", env: { ...statusApiEnv(port, dataDir, f), CHANNEL_SECRET: channelSecret, CHANNEL_GRACE_SECONDS: "3600" } });
try {
  const url = `http://127.0.0.1:${port}`;
  await waitFor(() => fetch(`${url}/health`).then((r) => r.ok, () => false), 30_000, "the API to answer /health");
  const statusUrl = `${url}/sessions/${f.id}/status`;
  const quiet = await wrk(statusUrl, { seconds, connections: 4, key: f.key });
  const before = processMemory(api.pid);
  const token = await new ChannelTokens(channelSecret).sign(flooder.id, flooder.launchId);
  const flood = spawn(["bun", join(root, "bench/flood-sandbox.ts"), join(dataDir, "channel", "channel.sock"), flooder.id, token, String(rate), String(seconds + 2)], { stdout: "pipe", stderr: "inherit" });
  await Bun.sleep(1000);
  const flooded = await wrk(statusUrl, { seconds, connections: 4, key: f.key });
  const during = processMemory(api.pid);
  const result = JSON.parse((await new Response(flood.stdout).text()).trim());
  console.log(`status of another session, ${backend}, wrk -t1 -c4, ${seconds} s each (after a 1 s warm-up):`);
  console.log(`  no flood:                  ${formatLoad(quiet)}`);
  console.log(`  during a ${rate}/s flood:   ${formatLoad(flooded)}`);
  console.log(`flooder: ${result.sent} reports sent, ${result.acked} the highest acked (stored at most ${DEFAULT_INTAKE.perSecond}/s after a burst of ${DEFAULT_INTAKE.burst}), ${result.connections} connections, ${result.cutOff} cut off, ${result.refused} refused`);
  console.log(`API memory: ${(before.pss / 1024).toFixed(0)} MiB PSS before the flood, ${(during.pss / 1024).toFixed(0)} MiB during (RSS ${(during.rss / 1024).toFixed(0)} MiB)`);

  // The reconnect flood, once the cool-down of the first is over.
  await Bun.sleep(DEFAULT_INTAKE.cooldownMs);
  const start = processMemory(api.pid);
  const reconnecting = spawn(["bun", join(root, "bench/flood-sandbox.ts"), join(dataDir, "channel", "channel.sock"), flooder.id, token, "20000", String(seconds), "big"], { stdout: "pipe", stderr: "inherit" });
  let peak = start;
  const sampler = setInterval(() => {
    const now = processMemory(api.pid);
    if (now.rss > peak.rss) peak = now;
  }, 100);
  const big = JSON.parse((await new Response(reconnecting.stdout).text()).trim());
  clearInterval(sampler);
  const after = processMemory(api.pid);
  console.log(`reconnect flood: ${big.sent} reports of 64 KiB sent over ${big.connections} connections (${big.cutOff} cut off, ${big.refused} refused), ${big.acked} the highest acked`);
  console.log(`API memory: RSS ${(start.rss / 1024).toFixed(0)} MiB before, ${(peak.rss / 1024).toFixed(0)} MiB at its peak, ${(after.rss / 1024).toFixed(0)} MiB after (PSS ${(start.pss / 1024).toFixed(0)} / ${(peak.pss / 1024).toFixed(0)} / ${(after.pss / 1024).toFixed(0)} MiB)`);
} finally {
  api.kill();
  await api.exited;
  await f.drop?.();
  rmSync(dataDir, { recursive: true, force: true });
}
