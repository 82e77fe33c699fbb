// Restarting the API as systemd does (SIGTERM): requests in flight finish, the process exits 0,
// sandboxes keep running, and the next start serves calls that need a sandbox at once, waiting
// (CHANNEL_WAIT_MS) for sandboxes that are still reconnecting instead of answering 503.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { RunningEmulator } from "../emulator";
import { startTestApi, type TestApi } from "../support/api";
import { emulatorControl, startEmulatorForContainers } from "../support/emulator";
import { waitFor } from "../support/env";

const OTHER = "4915112370009";
let emu: RunningEmulator;
let t: TestApi;
const linked: { id: string; key: string }[] = [];

beforeAll(async () => {
  emu = await startEmulatorForContainers();
  const control = emulatorControl(emu);
  await control("POST", "/control/numbers", { add: [OTHER] });
  t = await startTestApi("postgres", { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, CHECK_NUMBER_PER_MINUTE: "1000" }, { process: true });
  for (let i = 0; i < 2; i++) {
    const s = await t.createSession();
    await waitFor(async () => (await t.call("GET", `/sessions/${s.id}/status`)).body.session.state === "qr_ready", 30_000, "qr_ready");
    const qr = (await t.call("GET", `/sessions/${s.id}/qr`)).body.qr;
    await control("POST", "/control/scan", { qr, phoneNumber: `49151123700${i}1` });
    await waitFor(async () => (await t.call("GET", `/sessions/${s.id}/status`)).body.session.state === "ready", 30_000, "ready");
    linked.push({ id: s.id, key: s.apiKey });
  }
});
afterAll(async () => {
  await t?.close();
  await emu?.stop();
});

test("SIGTERM during a burst: every request in flight is answered, then the process exits 0", async () => {
  // Each check takes 800 ms at WhatsApp's end, so they are surely in flight at the signal.
  await emulatorControl(emu)("POST", "/control/latency", { ms: 800 });
  const burst = linked.flatMap((s) => Array.from({ length: 5 }, () => t.call("GET", `/sessions/${s.id}/check-number/${OTHER}`, { key: s.key })));
  await Bun.sleep(300);
  const stopped = t.stopApi("SIGTERM");
  const answers = await Promise.all(burst);
  expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
  expect(answers.every((a) => a.body.exists === true)).toBe(true);
  expect(await stopped).toBe(0);
  await emulatorControl(emu)("POST", "/control/latency", { ms: 0 });
  // The sandboxes outlived the API.
  const boxes = await t.runtime.list();
  for (const s of linked) expect(boxes.find((b) => b.sessionId === s.id)?.running).toBe(true);
});

test("the next start serves check-number at once for every ready session", async () => {
  await t.restartApi();
  const answers = await Promise.all(linked.map((s) => t.call("GET", `/sessions/${s.id}/check-number/${OTHER}`, { key: s.key })));
  expect(answers.map((a) => [a.status, a.body.exists])).toEqual(linked.map(() => [200, true]));
});
