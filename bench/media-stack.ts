// The media benches' API: on PostgreSQL, as its own process, wired to the emulator's WebSocket
// and media server, sends unthrottled, and loopback media URLs allowed (the bench serves them).
import type { RunningEmulator } from "../test/emulator";
import { startTestApi, type TestApi } from "../test/support/api";

export function startMediaApi(emu: RunningEmulator, maxBytes: number): Promise<TestApi> {
  return startTestApi(
    "postgres",
    {
      WA_WS_URL: emu.wsUrl,
      WA_TRUST_ROOT: emu.trustRoot,
      WA_MEDIA_SOCKET: emu.mediaSocketPath!,
      WA_MEDIA_CA: emu.mediaCa,
      SEND_PER_MINUTE: "100000",
      SANDBOX_REQUEST_TIMEOUT_MS: "120000",
      ALLOW_PRIVATE_ADDRESSES: "true",
      LOG_LEVEL: "warn",
      MEDIA_MAX_BYTES: String(maxBytes),
    },
    { process: true, runtime: "bun" },
  );
}
