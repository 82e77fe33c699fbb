// What the session service needs from the channel to the sandboxes: ask a live sandbox to do
// something now. The channel module implements it; the service never sees a socket.
import type { SandboxRequest, SandboxResponse } from "./frames";

export interface SandboxLink {
  /** True when the session's sandbox is connected to the channel right now. */
  isConnected(sessionId: string): boolean;
  /** Sends a request and waits for its answer; rejects with SandboxTimeout or SandboxUnavailable. */
  request<R extends SandboxRequest>(sessionId: string, req: R, timeoutMs: number): Promise<SandboxResponse<R>>;
  /** Closes the session's channel connection, if any (container stopped or deleted). */
  disconnect(sessionId: string): void;
}

export class SandboxTimeout extends Error {}
export class SandboxUnavailable extends Error {}
