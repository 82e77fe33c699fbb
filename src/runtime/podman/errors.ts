// Podman's errors as types: the HTTP status picks the class, the libpod message is kept, so a
// caller can tell "no such container" from "the engine is down" without parsing strings.

export class PodmanError extends Error {
  constructor(
    message: string,
    /** HTTP status from libpod, or 0 when the socket did not answer at all. */
    readonly status: number,
    /** libpod's own `cause` ("no such container", ...), when it sent one. */
    readonly cause?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class PodmanNotFoundError extends PodmanError {}
export class PodmanConflictError extends PodmanError {}
export class PodmanNotModifiedError extends PodmanError {}
/** The socket is missing or nobody listens on it. */
export class PodmanUnavailableError extends PodmanError {}

export function podmanError(status: number, message: string, cause?: string): PodmanError {
  if (status === 404) return new PodmanNotFoundError(message, status, cause);
  if (status === 409) return new PodmanConflictError(message, status, cause);
  if (status === 304) return new PodmanNotModifiedError(message, status, cause);
  return new PodmanError(message, status, cause);
}
