// Issue figures for messaging, whole stack (API process, rootless Podman, the sandbox image, the
// emulator whose contacts decrypt what they get): N linked sessions send M messages each at
// once (send limit raised), in two rounds (cold, then warm): messages per second, POST -> 201
// latency (the API answers once WhatsApp's server acked the message, which the emulator does
// after decrypting it), checked against what the contacts decrypted, and the CPU each part of
// the stack used a message; then incoming messages -> webhook receipt latency.
// Usage: bun bench/messaging.ts [sessions=10] [messages per session=20] [concurrent sends per session=1].
// Needs what scripts/test.sh sets up.
import { startTestApi } from "../test/support/api";
import { emulatorControl, startEmulatorForContainers } from "../test/support/emulator";
import { waitFor } from "../test/support/env";
import { WebhookReceiver } from "../test/support/webhook-receiver";
import { cpuDelta, cpuSeconds, cpuTotal } from "./stats";

const sessions = Number(process.argv[2] ?? 10);
const perSession = Number(process.argv[3] ?? 20);
/** Clients that send from several threads or processes at once (no order between those). */
const lanes = Number(process.argv[4] ?? 1);
const CONTACT = "4915199990002";

const emu = await startEmulatorForContainers({ logLevel: "silent" });
const control = emulatorControl(emu);
await control("POST", "/control/numbers", { add: [CONTACT] });
const receiver = new WebhookReceiver().start();
const t = await startTestApi(
  "postgres",
  { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, SEND_PER_MINUTE: "100000", LOG_LEVEL: "warn" },
  { process: true },
);
/** "9.12 ms a message: sandboxes 4.30, api 2.10, …": CPU milliseconds a message, in all and by part. */
const perMessage = (cpu: [string, number][], messages: number) =>
  `${((cpuTotal(cpu) * 1000) / messages).toFixed(2)} ms a message: ` + cpu.map(([k, s]) => `${k} ${((s * 1000) / messages).toFixed(2)}`).join(", ");
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

try {
  const linked: { id: string; key: string; phone: string }[] = [];
  for (let i = 0; i < sessions; i++) {
    const s = await t.createSession(`bench-msg-${i}`, { webhookUrl: receiver.url });
    await waitFor(async () => (await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).body.session.state === "qr_ready", 60_000, "qr_ready");
    const qr = (await t.call("GET", `/sessions/${s.id}/qr`, { key: s.apiKey })).body.qr;
    const phone = `49151${String(20000000 + i)}`;
    await control("POST", "/control/scan", { qr, phoneNumber: phone });
    await waitFor(async () => (await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).body.session.state === "ready", 60_000, "ready");
    linked.push({ id: s.id, key: s.apiKey, phone });
  }
  // One message each first: Signal sessions are set up (pkmsg) outside the measured run.
  for (const s of linked) await t.call("POST", `/sessions/${s.id}/messages`, { key: s.key, body: { to: CONTACT, text: "warm-up" } });

  // Where the CPU of a round goes: this process is the bench's client, the emulator and the
  // webhook receiver; the API is the other Bun (or Deno) process.
  const component = (pid: number, comm: string) =>
    pid === process.pid ? "bench+emulator" : comm === "wa-sandbox" ? "sandboxes" : comm === "postgres" ? "postgres" : comm === "bun" || comm === "deno" ? "api" : "other";

  // Twice: "cold" is the first round after the processes start (the API's code not yet compiled
  // by its JIT, its connections and statements not yet prepared), "warm" the steady state.
  for (const round of ["cold", "warm"]) {
    const cpuBefore = cpuSeconds(component);
    const latencies: number[] = [];
    const ids = new Set<string>();
    const started = performance.now();
    await Promise.all(
      linked.flatMap((s) => Array.from({ length: lanes }, (_, lane) => ({ s, lane }))).map(async ({ s, lane }) => {
        for (let n = lane; n < perSession; n += lanes) {
          const t0 = performance.now();
          const res = await t.call("POST", `/sessions/${s.id}/messages`, { key: s.key, body: { to: CONTACT, text: `${round} ${n}` } });
          latencies.push(performance.now() - t0);
          if (res.status !== 201 || res.body.message.status === "pending") throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
          ids.add(res.body.message.id);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuDelta(cpuBefore, cpuSeconds(component));
    const got = (await control("GET", `/control/phones/${CONTACT}/received`)).body.messages as { id: string }[];
    const decrypted = got.filter((m) => ids.has(m.id)).length;
    const busy = cpuTotal(cpu) / seconds / navigator.hardwareConcurrency;
    console.log(
      `send ${round}: ${sessions} sessions x ${perSession} messages (${lanes} at a time each): ${(ids.size / seconds).toFixed(0)} messages/s; POST -> 201 (server ack) p50 ${pct(latencies, 50).toFixed(0)} ms  p99 ${pct(latencies, 99).toFixed(0)} ms; ${decrypted}/${ids.size} decrypted by the contact\n` +
        `  cpu ${perMessage(cpu, ids.size)} (${(100 * busy).toFixed(0)}% of ${navigator.hardwareConcurrency} cores)`,
    );
  }

  const incoming: number[] = [];
  const cpuBefore = cpuSeconds(component);
  for (let n = 0; n < 10; n++) {
    await Promise.all(
      linked.map(async (s) => {
        const t0 = Date.now();
        const { body } = await control("POST", "/control/messages", { from: CONTACT, to: s.phone, text: `incoming ${n}` });
        const hook = await waitFor(() => receiver.received.find((r) => r.json.event === "message.received" && r.json.data.id === body.id), 30_000, "message.received");
        incoming.push(hook.at - t0);
      }),
    );
  }
  const cpu = cpuDelta(cpuBefore, cpuSeconds(component));
  console.log(
    `incoming:  ${incoming.length} messages (${sessions} at a time) -> webhook receipt p50 ${pct(incoming, 50)} ms  p99 ${pct(incoming, 99)} ms\n` +
      `  cpu ${perMessage(cpu, incoming.length)}`,
  );
} finally {
  await t.close();
  await emu.stop();
  receiver.stop();
}
