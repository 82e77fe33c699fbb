// `bun run emulator`: starts the emulator on loopback. The first line on stdout is one JSON
// object {wsUrl, controlUrl, trustRoot, mediaUrl, mediaCa, mediaSocketPath}; logs go to stderr.
import { startEmulator } from "./listener";

const port = process.env.EMULATOR_PORT ? Number(process.env.EMULATOR_PORT) : 0;
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error("EMULATOR_PORT must be a port number");
  process.exit(1);
}
const emulator = await startEmulator({
  port,
  socketPath: process.env.EMULATOR_SOCKET || undefined,
  mediaSocketPath: process.env.EMULATOR_MEDIA_SOCKET || undefined,
  rootPrivateKey: process.env.EMULATOR_ROOT_KEY || undefined,
  qrRefs: process.env.EMULATOR_QR_REFS ? Number(process.env.EMULATOR_QR_REFS) : undefined,
  logLevel: (process.env.EMULATOR_LOG_LEVEL as "debug" | "info" | "warn" | "silent") || "info",
});
console.log(
  JSON.stringify({
    wsUrl: emulator.wsUrl,
    controlUrl: emulator.controlUrl,
    trustRoot: emulator.trustRoot,
    mediaUrl: emulator.mediaUrl,
    mediaCa: emulator.mediaCa,
    mediaSocketPath: emulator.mediaSocketPath ?? null,
  }),
);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    await emulator.stop();
    process.exit(0);
  });
}
