// Whether an error means "the database cannot be reached right now" rather than "this query was
// wrong": the first is a 503 the client may retry, the second a bug. Drivers wrap the cause
// (Drizzle's DrizzleQueryError, Elysia's ParseError), so the whole `cause` chain is searched.

/** Socket errors and postgres.js' own codes for a connection that failed or went away. */
const connectionCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);

/** SQLSTATEs of a server that is shutting down, not accepting connections yet, or full (53300). */
const unavailableStates = new Set(["57P01", "57P02", "57P03", "53300"]);

/** SQLSTATEs of text PostgreSQL cannot store: a NUL in text (22021) or in JSON (22P05). */
const unstorableStates = new Set(["22021", "22P05"]);

/** The error and its causes, outermost first (at most 8 deep). */
function* causes(err: unknown): Generator<{ code?: unknown; message?: unknown }> {
  let current: unknown = err;
  for (let depth = 0; current !== null && current !== undefined && depth < 8; depth++) {
    yield current as { code?: unknown; message?: unknown };
    current = (current as { cause?: unknown }).cause;
  }
}

/** Whether the database refused a value because of a character it cannot store (a client's text). */
export function isUnstorableText(err: unknown): boolean {
  for (const { code } of causes(err)) if (typeof code === "string" && unstorableStates.has(code)) return true;
  return false;
}

export function isDatabaseUnavailable(err: unknown): boolean {
  for (const { code, message } of causes(err)) {
    if (typeof code === "string") {
      if (connectionCodes.has(code) || unavailableStates.has(code)) return true;
      // Class 08: connection exception (the server or the connection failed).
      if (/^08[0-9A-Z]{3}$/.test(code)) return true;
    }
    // PGlite after close() (its only "not there" failure: it runs in this process).
    if (typeof message === "string" && /^PGlite is closed/.test(message)) return true;
  }
  return false;
}
