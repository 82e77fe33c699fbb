// A QR nobody scans: when WhatsApp's refs run out the sandbox reports `failed` with the reason
// and stops; `start` shows a new QR. Real image, rootless Podman, emulator; REST only.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { RunningEmulator } from "../emulator";
import { startTestApi, type TestApi } from "../support/api";
import { startEmulatorForContainers } from "../support/emulator";
import { waitFor } from "../support/env";

let emu: RunningEmulator;
let t: TestApi;

beforeAll(async () => {
  emu = await startEmulatorForContainers({ qrRefs: 2 });
  t = await startTestApi("pglite", { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, QR_TIMEOUT_SECONDS: "1" });
});

afterAll(async () => {
  await t?.close();
  await emu?.stop();
});

test("an unscanned QR expires: failed with the reason, the container stops, start shows a new QR", async () => {
  const s = await t.createSession("qr-expiry");
  const status = async () => (await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).body.session;
  const qrs = new Set<string>();
  await waitFor(async () => {
    const qr = await t.call("GET", `/sessions/${s.id}/qr`, { key: s.apiKey });
    if (qr.status === 200) qrs.add(qr.body.qr);
    return (await status()).state === "failed";
  }, 20_000, "the QR to expire");
  expect(qrs.size).toBeGreaterThanOrEqual(1);
  expect(await waitFor(async () => !(await t.runtime.isRunning(s.id)), 10_000, "the container to stop")).toBe(true);
  const failed = await t.call("GET", `/sessions/${s.id}/qr`, { key: s.apiKey });
  expect(failed.status).toBe(409);
  expect(failed.body.state).toBe("failed");
  // The reason is the sandbox's, recorded with the change.
  const events = (await t.call("GET", `/sessions/${s.id}/events`, { key: s.apiKey })).body.events;
  expect(events.find((e: { to: string }) => e.to === "failed")?.reason).toContain("QR code was not scanned in time");

  expect((await t.call("POST", `/sessions/${s.id}/start`, { key: s.apiKey })).status).toBe(200);
  await waitFor(async () => (await status()).state === "qr_ready", 20_000, "a new QR");
});
