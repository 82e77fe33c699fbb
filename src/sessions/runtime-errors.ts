// What the runtime's failures mean to a client: a domain error whose message names no host
// internals (socket paths, container ids, Podman's own words); those go to the log only.
import type { Logger } from "../log";
import { RuntimeError } from "../runtime/types";
import { SessionError } from "./errors";

const clientMessages = {
  RUNTIME_UNAVAILABLE: "The container engine is not reachable right now; try again shortly",
  SANDBOX_IMAGE_MISSING: "The sandbox image is missing on this server; the operator must build it (bun run sandbox:build)",
  RUNTIME_FAILED: "The container engine could not carry out the operation",
} as const;

/** The domain error for a runtime failure, logged with its detail for the operator. */
export function runtimeFailure(err: unknown, log: Logger, what: string, sessionId?: string): SessionError {
  if (err instanceof SessionError) return err;
  const code = err instanceof RuntimeError && err.code in clientMessages ? (err.code as keyof typeof clientMessages) : "RUNTIME_FAILED";
  log.error(`runtime could not ${what}`, { sessionId, code, error: err });
  return new SessionError(code, clientMessages[code]);
}
