// Entry point: `bun run start`. Reads the environment, starts the API, and shuts down cleanly
// on SIGTERM/SIGINT (sandboxes keep running; they reconnect when the API is back).
import { loadConfigOrExit } from "./config";
import { createLogger } from "./log";
import { PodmanRuntime } from "./runtime/podman-runtime";
import { startApi } from "./api";
import { InstanceClaimedError } from "./runtime/instance-identity";

const config = loadConfigOrExit();

const log = createLogger(config.logLevel);
const runtime = new PodmanRuntime(config, log);
let api;
try {
  api = await startApi({ config, log, runtime });
} catch (err) {
  if (err instanceof InstanceClaimedError) {
    log.error("refusing to start", { code: err.code, error: err.message });
    process.stderr.write(`Refusing to start: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    log.info("API stopping", { signal });
    await api.stop();
    process.exit(0);
  });
}
