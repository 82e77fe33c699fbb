// The domain's own errors: what went wrong, in words and a machine code, with no HTTP in them.
// The HTTP layer maps each code to a status in one place (src/http/errors.ts).
import type { SessionState } from "../model/session-states";

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
  | "NOT_ON_WHATSAPP"
  | "CONFLICT"
  | "MEDIA_NOT_FOUND"
  | "MEDIA_TOO_LARGE"
  | "MEDIA_TYPE_MISMATCH"
  | "MEDIA_FETCH_FAILED"
  | "MEDIA_CONVERSION_UNAVAILABLE"
  | "GROUP_NOT_FOUND"
  | "NOT_GROUP_ADMIN"
  | "INVITE_NOT_FOUND"
  | "NOT_ALLOWED_TO_SEND"
  | "MESSAGE_NOT_EDITABLE"
  | "MESSAGE_NOT_REVOCABLE"
  | "NODE_NOT_FOUND"
  | "NODE_UNAVAILABLE";

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
  mediaTooLarge: (maxBytes: number) => new SessionError("MEDIA_TOO_LARGE", `The file is larger than MEDIA_MAX_BYTES (${maxBytes} bytes)`),
  notFound: (id: string) => new SessionError("SESSION_NOT_FOUND", `No session with id "${excerpt(id)}"`),
  wrongState: (action: string, state: SessionState, allowed: readonly SessionState[]) =>
    new SessionError("INVALID_SESSION_STATE", `Cannot ${action} while the session is "${state}"`, { state, allowedStates: allowed }),
  /** A field the route's schema let through that the domain refuses. */
  invalidField: (field: string, why: string) => new SessionError("VALIDATION_ERROR", `Invalid field "${field}": ${why}`, { field }),
  groupNotFound: (id: string) => new SessionError("GROUP_NOT_FOUND", `The account is not in a group "${excerpt(id)}"`, { groupId: excerpt(id) }),
  notGroupAdmin: (what: string) => new SessionError("NOT_GROUP_ADMIN", `Only the group's admins may ${what}, and the account is not one`),
  /** A call only the session's node can answer, which is not this one (503: the session moves soon, or its node answers again). */
  onOtherNode: (node: string | null, why: string) =>
    new SessionError("SANDBOX_UNAVAILABLE", `The session runs on node ${node}, ${why}; try again shortly`, { node }),
  /** Another node took the session while this one acted on it. */
  ownerChanged: () => new SessionError("CONFLICT", "The session changed owner meanwhile; look again"),
  messageNotFound: (id: string) => new SessionError("MESSAGE_NOT_FOUND", `No message with id "${excerpt(id)}" in this session`),
  invalidPhone: (field: string) =>
    new SessionError("INVALID_PHONE_NUMBER", `${field} must be 7 to 15 digits with country code, optionally after a +`, { field }),
};

/** At most this much of a client's own input is echoed in an error. */
export const MAX_ECHO_LENGTH = 64;

/** A short excerpt of input for an error message: never the whole of an oversized value. */
export function excerpt(value: string, max = MAX_ECHO_LENGTH): string {
  if (value.length <= max) return value;
  // Not cut inside a surrogate pair.
  const end = /[\uD800-\uDBFF]/.test(value[max - 1] ?? "") ? max - 1 : max;
  return `${value.slice(0, end)}… (${value.length} characters)`;
}
