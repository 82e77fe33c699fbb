// The peers' architecture, for bench/density.ts: N real Baileys clients in this one Bun process,
// linked to the emulator the way the sandbox links (scan, then reconnect on 515), ten at a time. Prints
// {"linkedMs"} once all are open, then stays idle until killed.
// Usage: bun bench/density-peer.ts <N> <emulator wsUrl> <controlUrl> <trustRoot> <first phone number>
import { trustRoot } from "../test/emulator";
import { linkClient } from "../test/emulator/test-client";
import { emulatorControl } from "../test/support/emulator";

const [n, wsUrl, controlUrl, root, firstPhone] = process.argv.slice(2);
trustRoot(root!);
const control = emulatorControl({ controlUrl: controlUrl! });
const t0 = performance.now();
// Ten at a time: each new client writes its 812 pre-keys as files at once (the test clients'
// file auth store), and a hundred doing so together run out of descriptors.
for (let start = 0; start < Number(n); start += 10) {
  await Promise.all(
    Array.from({ length: Math.min(10, Number(n) - start) }, (_, j) =>
      linkClient(wsUrl!, (qr) => control("POST", "/control/scan", { qr, phoneNumber: `49151${Number(firstPhone) + start + j}` })),
    ),
  );
}
console.log(JSON.stringify({ linkedMs: performance.now() - t0 }));
setInterval(() => {}, 1 << 30);
