// What each emulator test file starts from: one emulator for the file, trusted as WhatsApp's
// root while it runs, fresh numbers, the control API, linked Baileys clients (ended after the
// file) and the directory contacts a test needs.
import { afterAll, beforeAll, expect } from "bun:test";
import { WA_CERT_DETAILS } from "@whiskeysockets/baileys";
import { emulatorControl } from "../support/emulator";
import { startEmulator, trustRoot, type RunningEmulator } from ".";
import { linkClient, type TestClient } from "./test-client";

export function emulatorSuite(prefix: string) {
  const realRoot = Buffer.from(WA_CERT_DETAILS.PUBLIC_KEY);
  const clients: TestClient[] = [];
  let seq = 0;
  const suite = {
    emu: undefined as unknown as RunningEmulator,
    clients,
    /** A number no other test of the file uses (`prefix` keeps files apart). */
    newNumber: () => `${prefix}${String(Date.now()).slice(-7)}${String(seq++).padStart(3, "0")}`,
    control: (method: string, path: string, body?: unknown) => emulatorControl(suite.emu)(method, path, body),
    /** A Baileys client linked to `phone` (its second connection, after the restart linking asks for). */
    async linked(phone: string, opts: Parameters<typeof linkClient>[3] = {}) {
      const { second } = await linkClient(suite.emu.wsUrl, (qr) => suite.control("POST", "/control/scan", { qr, phoneNumber: phone }), (c) => clients.push(c), opts);
      return second;
    },
    /** `count` new numbers in the directory. */
    async contacts(count: number): Promise<string[]> {
      const ns = Array.from({ length: count }, suite.newNumber);
      expect((await suite.control("POST", "/control/numbers", { add: ns })).status).toBe(200);
      return ns;
    },
    /** What the number received from linked devices, decrypted. */
    async received(number: string) {
      const res = await suite.control("GET", `/control/phones/${number}/received`);
      expect(res.status).toBe(200);
      return res.body.messages as Record<string, any>[];
    },
  };
  beforeAll(async () => {
    suite.emu = await startEmulator({ logLevel: (process.env.EMULATOR_LOG_LEVEL as "info") || "silent" });
    trustRoot(suite.emu.trustRoot);
  });
  afterAll(async () => {
    for (const c of clients) c.end();
    await suite.emu.stop();
    WA_CERT_DETAILS.PUBLIC_KEY = realRoot;
  });
  return suite;
}
