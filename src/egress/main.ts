// Entry point of the egress gateway: `bun run egress`, with the API's environment (DATA_DIR or
// EGRESS_DIR, EGRESS_ALLOW, ALLOW_PRIVATE_ADDRESSES, LOG_LEVEL). Its own process and systemd
// unit: the API restarts without cutting any session's connection to WhatsApp.
import { loadConfigOrExit } from "../config";
import { createLogger } from "../log";
import { startGateway } from "./gateway";

const config = loadConfigOrExit();
const log = createLogger(config.logLevel, { component: "egress" });
const gateway = await startGateway({ dir: config.egressDir, allow: config.egressAllow, allowPrivate: config.allowPrivateAddresses, log });
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, async () => {
    log.info("egress gateway stopping", { signal });
    await gateway.stop();
    process.exit(0);
  });
}
