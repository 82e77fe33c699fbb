// The domain's own errors: what went wrong, in words and a machine code, with no HTTP in them.
// The HTTP layer maps each code to a status in one place (src/http/errors.ts).
import type { SessionState } from "./state-machine";

export type SessionErrorCode =
  | "SESSION_NOT_FOUND"
  | "SESSION_NAME_TAKEN"
  | "SESSION_LIMIT_REACHED"
  | "INVALID_SESSION_STATE"
  | "INVALID_PHONE_NUMBER"
  | "RATE_LIMITED"
  | "SANDBOX_UNAVAILABLE"
  | "SANDBOX_TIMEOUT"
  | "SANDBOX_ERROR"
  | "RUNTIME_UNAVAILABLE"
  | "SANDBOX_IMAGE_MISSING"
  | "RUNTIME_FAILED"
  | "VALIDATION_ERROR"
  | "DELIVERY_NOT_FOUND"
  | "INVALID_DELIVERY_STATE"
  | "MESSAGE_NOT_FOUND"
  | "NOT_ON_WHATSAPP";

export class SessionError extends Error {
  constructor(
    readonly code: SessionErrorCode,
    message: string,
    /** Fields a client can act on (the state, the allowed states, the field). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const sessionErrors = {
  notFound: (id: string) => new SessionError("SESSION_NOT_FOUND", `No session with id "${id}"`),
  wrongState: (action: string, state: SessionState, allowed: readonly SessionState[]) =>
    new SessionError("INVALID_SESSION_STATE", `Cannot ${action} while the session is "${state}"`, { state, allowedStates: allowed }),
  invalidPhone: (field: string) =>
    new SessionError("INVALID_PHONE_NUMBER", `${field} must be 7 to 15 digits with country code, optionally after a +`, { field }),
};
