// What the session service needs from the channel to the sandboxes: ask a live sandbox to do
// something now. The channel module implements it; the service never sees a socket.
import type { SandboxRequest, SandboxResponse } from "./frames";

export interface SandboxLink {
  /** True when the session's sandbox is connected to the channel right now. */
  isConnected(sessionId: string): boolean;
  /** Resolves true once the session's sandbox is connected (at once if it is), false after `timeoutMs`. */
  waitForConnection(sessionId: string, timeoutMs: number): Promise<boolean>;
  /**
   * Sends a request and waits for its answer. Rejects with SandboxTimeout, SandboxUnavailable,
   * SandboxProtocolError (the sandbox answered something that is not an answer to it) or
   * ChannelError (the sandbox answered with an error of its own).
   */
  request<R extends SandboxRequest>(sessionId: string, req: R, timeoutMs: number): Promise<SandboxResponse<R>>;
  /** Closes the session's channel connection, if any (container stopped or deleted). */
  disconnect(sessionId: string): void;
}

export class SandboxTimeout extends Error {
  override readonly name = "SandboxTimeout";
}
export class SandboxUnavailable extends Error {
  override readonly name = "SandboxUnavailable";
}
/** The sandbox's answer broke the channel's contract (malformed, or the wrong shape for the request). */
export class SandboxProtocolError extends Error {
  override readonly name = "SandboxProtocolError";
}
/** The sandbox answered with an error of its own (`code` is the sandbox's, e.g. NOT_CONNECTED). */
export class ChannelError extends Error {
  override readonly name = "ChannelError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
