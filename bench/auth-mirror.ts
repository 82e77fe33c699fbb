// Issue figure: what the auth-state mirror costs a message, against no mirror, in one run. The
// same stack twice (API process on PostgreSQL, rootless Podman, the sandbox image, the emulator):
// AUTH_STATE_MIRROR on, then off, then on and off again. Each time N linked sessions send M texts
// each, and the incoming replies they get; printed per message: CPU by part (from /proc) and the
// database's writes (transactions committed and rows written, from pg_stat_database).
// Usage: bun bench/auth-mirror.ts [sessions=5] [messages per session=40]. Needs what scripts/test.sh sets up.
import postgres from "postgres";
import { startTestApi } from "../test/support/api";
import { createTestDatabase } from "../test/support/databases";
import { emulatorControl, startEmulatorForContainers } from "../test/support/emulator";
import { requireEnv, waitFor } from "../test/support/env";
import { cpuDelta, cpuSeconds, cpuTotal } from "./stats";

const sessions = Number(process.argv[2] ?? 5);
const perSession = Number(process.argv[3] ?? 40);
const CONTACT = "4915199990042";

const emu = await startEmulatorForContainers({ logLevel: "silent" });
const control = emulatorControl(emu);
await control("POST", "/control/numbers", { add: [CONTACT] });
const admin = postgres(requireEnv("TEST_DATABASE_URL"), { max: 1, onnotice: () => {} });
const component = (pid: number, comm: string) =>
  pid === process.pid ? "bench+emulator" : comm === "wa-sandbox" ? "sandboxes" : comm === "postgres" ? "postgres" : comm === "bun" ? "api" : "other";

/** Transactions committed and rows inserted, updated or deleted in the database so far. */
async function writes(name: string): Promise<{ commits: number; rows: number }> {
  // PostgreSQL 15 publishes a backend's counts when it goes idle, at most once a second.
  await Bun.sleep(1500);
  const [r] = await admin`select xact_commit::bigint as c, (tup_inserted + tup_updated + tup_deleted)::bigint as w from pg_stat_database where datname = ${name}`;
  return { commits: Number(r!.c), rows: Number(r!.w) };
}

async function round(mirror: boolean, offset: number): Promise<string> {
  const db = await createTestDatabase();
  const name = new URL(db.url).pathname.slice(1);
  const t = await startTestApi(
    "postgres",
    { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, SEND_PER_MINUTE: "100000", LOG_LEVEL: "warn", AUTH_STATE_MIRROR: String(mirror) },
    { process: true, databaseUrl: db.url },
  );
  try {
    const linked: { id: string; key: string; phone: string }[] = [];
    for (let i = 0; i < sessions; i++) {
      const s = await t.createSession(`mirror-${i}`);
      await waitFor(async () => (await t.call("GET", `/sessions/${s.id}/status`)).body.session.state === "qr_ready", 60_000, "qr_ready");
      const phone = `49151${String(40000000 + offset + i)}`;
      await control("POST", "/control/scan", { qr: (await t.call("GET", `/sessions/${s.id}/qr`)).body.qr, phoneNumber: phone });
      await waitFor(async () => (await t.call("GET", `/sessions/${s.id}/status`)).body.session.state === "ready", 60_000, "ready");
      linked.push({ id: s.id, key: s.apiKey, phone });
    }
    // Signal sessions set up outside the measured part (the first message carries a pre-key message).
    for (const s of linked) await t.call("POST", `/sessions/${s.id}/messages`, { key: s.key, body: { to: CONTACT, text: "warm-up" } });
    const before = await writes(name);
    const cpuBefore = cpuSeconds(component);
    let messages = 0;
    await Promise.all(
      linked.map(async (s) => {
        for (let n = 0; n < perSession; n++) {
          const res = await t.call("POST", `/sessions/${s.id}/messages`, { key: s.key, body: { to: CONTACT, text: `out ${n}` } });
          if (res.status !== 201) throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
          // And one in: the session's keys change on both.
          const { body } = await control("POST", "/control/messages", { from: CONTACT, to: s.phone, text: `in ${n}` });
          await waitFor(async () => ((await t.call("GET", `/sessions/${s.id}/messages/${body.id}`, { key: s.key })).status === 200 ? true : undefined), 30_000, "the incoming message");
          messages += 2;
        }
      }),
    );
    const cpu = cpuDelta(cpuBefore, cpuSeconds(component));
    const after = await writes(name);
    const per = (x: number) => (x / messages).toFixed(2);
    return (
      `mirror ${mirror ? "on " : "off"}: ${messages} messages (${sessions} sessions, half sent, half received): cpu ${((cpuTotal(cpu) * 1000) / messages).toFixed(2)} ms a message (` +
      cpu.map(([k, v]) => `${k} ${((v * 1000) / messages).toFixed(2)}`).join(", ") +
      `); database ${per(after.commits - before.commits)} transactions and ${per(after.rows - before.rows)} rows written a message`
    );
  } finally {
    await t.close();
    await db.drop();
  }
}

try {
  const lines: string[] = [];
  // Alternated, twice: the machine's drift shows in the pairs.
  for (const [i, mirror] of [true, false, true, false].entries()) lines.push(await round(mirror, i * 100));
  console.log(lines.join("\n"));
} finally {
  await admin.end();
  await emu.stop();
}
