// Issue figure: over 20 runs against the emulator with a real Baileys client, the time from
// connect to the first QR and from scan to `connection: 'open'`. Median and worst.
import { DisconnectReason } from "@whiskeysockets/baileys";
import { startEmulator, trustRoot } from "../test/emulator";
import { connectClient } from "../test/emulator/test-client";
import { emulatorControl } from "../test/support/emulator";
import { summary } from "./stats";

const runs = Number(process.argv[2] ?? 20);
const emu = await startEmulator({ logLevel: "silent" });
trustRoot(emu.trustRoot);
const toQr: number[] = [];
const toOpen: number[] = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const first = await connectClient(emu.wsUrl);
  const qr = await first.waitFor(() => first.qrs[0], 10_000, "QR");
  toQr.push(performance.now() - t0);
  const t1 = performance.now();
  const res = await emulatorControl(emu)("POST", "/control/scan", { qr, phoneNumber: `4915100${String(i).padStart(5, "0")}` });
  if (res.status !== 200) throw new Error(`scan failed: ${JSON.stringify(res.body)}`);
  await first.waitFor(() => first.closes.find((c) => c.code === DisconnectReason.restartRequired), 10_000, "515");
  const second = await connectClient(emu.wsUrl, { dir: first.dir });
  await second.waitFor(() => second.opened, 10_000, "open");
  toOpen.push(performance.now() - t1);
  second.end();
}
console.log(summary("connect -> first QR", toQr));
console.log(summary("scan -> connection open", toOpen));
await emu.stop();
process.exit(0);
