// Issue figure: `GET /sessions/{id}/groups/{groupId}` for a group of 1,000 members, at least
// 2,000 requests/s here, driven by wrk (one thread, keep-alive) against the API in its own
// process; anchored in the same run by `GET /sessions/{id}/status` of the same session (the
// API's cheapest authenticated read). The group is written to the database first, as the
// sandbox's sync would: the read never reaches a container or WhatsApp.
// Usage: bun bench/groups.ts [pglite|postgres|both] [seconds=5] [connections=32] [members=1000]  (apt-get install wrk)
// postgres needs BENCH_DATABASE_URL (or TEST_DATABASE_URL): an admin URL; a database is made.
import { spawn } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../src/db/client";
import { GroupRepository } from "../src/db/group-repository";
import { SessionRepository } from "../src/db/session-repository";
import { waitFor } from "../test/support/env";
import { freePort } from "../test/support/net";
import { formatLoad, statusApiEnv, statusFixture, wrk } from "./status-load";

const which = process.argv[2] ?? "both";
const seconds = Number(process.argv[3] ?? 5);
const connections = Number(process.argv[4] ?? 32);
const members = Number(process.argv[5] ?? 1000);
const root = join(import.meta.dir, "..");
const GROUP = "120363041234567890@g.us";

async function run(backend: "pglite" | "postgres") {
  const dataDir = mkdtempSync(join(tmpdir(), "wa-bench-"));
  const f = await statusFixture(backend, dataDir);
  // Members named by LID with their phone numbers, as WhatsApp's groups are now.
  const db = await openDatabase({ databaseUrl: f.databaseUrl, dataDir });
  const session = (await new SessionRepository(db.db).byId(f.id))!;
  await new GroupRepository(db.db).upsert(session, {
    id: GROUP,
    subject: "Everyone",
    description: "A group of the size WhatsApp allows",
    owner: "4915112345678",
    createdAt: Math.floor(Date.now() / 1000),
    announce: false,
    locked: false,
    isAdmin: true,
    participants: Array.from({ length: members }, (_, i) => ({
      id: `${200000000000000 + i}@lid`,
      phoneNumber: `49151${String(10000000 + i)}`,
      role: i === 0 ? ("superadmin" as const) : i < 5 ? ("admin" as const) : ("member" as const),
    })),
  });
  await db.close();
  const port = freePort();
  const proc = spawn(["bun", join(root, "src/main.ts")], { stdout: "ignore", stderr: "inherit", env: statusApiEnv(port, dataDir, f) });
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitFor(() => fetch(`${url}/health`).then((r) => r.ok, () => false), 30_000, "the API to answer /health");
    const one = await fetch(`${url}/sessions/${f.id}/groups/${GROUP}`, { headers: { "x-api-key": f.key } });
    const body = await one.text();
    if (!one.ok || (JSON.parse(body) as { group: { participants: unknown[] } }).group.participants.length !== members) throw new Error(`the group read failed: ${one.status}`);
    const status = await wrk(`${url}/sessions/${f.id}/status`, { seconds, connections, key: f.key });
    const group = await wrk(`${url}/sessions/${f.id}/groups/${encodeURIComponent(GROUP)}`, { seconds, connections, key: f.key });
    console.log(`${backend.padEnd(8)} status (anchor)            ${formatLoad(status)}`);
    console.log(`${backend.padEnd(8)} group of ${String(members).padEnd(5)} (${(body.length / 1024).toFixed(0)} KiB) ${formatLoad(group)}  (goal >= 2000 req/s)`);
  } finally {
    proc.kill();
    await proc.exited;
    await f.drop?.();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

for (const backend of which === "both" ? (["pglite", "postgres"] as const) : [which as "pglite" | "postgres"]) await run(backend);
