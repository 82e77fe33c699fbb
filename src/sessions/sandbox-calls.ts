// Calls that need WhatsApp now: they go to the session's sandbox over the channel, with a
// timeout, a per-session limit where WhatsApp punishes bulk use, and clear errors.
import type { NumberCheck, SandboxRequest, SandboxResponse } from "../channel/frames";
import { ChannelError, SandboxTimeout, SandboxUnavailable, type SandboxLink } from "../channel/link";
import type { SessionRow } from "../db/schema";
import type { Logger } from "../log";
import { SessionError, sessionErrors } from "./errors";
import { RateLimiter } from "../limits";

export interface SandboxCallDeps {
  link: SandboxLink;
  checkNumberPerMinute: number;
  requestTimeoutMs: number;
  /** How long a call waits for a sandbox that is not connected (yet) before it answers 503. */
  channelWaitMs: number;
  log: Logger;
}

const phonePattern = /^\+?\d{7,15}$/;

export class SandboxCalls {
  private readonly checkLimiter: RateLimiter;

  constructor(private readonly d: SandboxCallDeps) {
    this.checkLimiter = new RateLimiter(d.checkNumberPerMinute, 60_000);
  }

  async checkNumber(session: SessionRow, phone: string): Promise<NumberCheck> {
    const digits = phoneDigits("phone", phone);
    if (session.state !== "ready") throw sessionErrors.wrongState("check a number", session.state, ["ready"]);
    if (!this.checkLimiter.take(session.id)) {
      throw new SessionError("RATE_LIMITED", `At most ${this.d.checkNumberPerMinute} number checks a minute per session`);
    }
    const res = await this.ask(session.id, { type: "check-number", phones: [digits] });
    return res.results[0] ?? { phone: digits, exists: false, jid: null };
  }

  async pairingCode(session: SessionRow, phoneNumber: string): Promise<string> {
    const digits = phoneDigits("phoneNumber", phoneNumber);
    if (session.state !== "qr_ready") throw sessionErrors.wrongState("request a pairing code", session.state, ["qr_ready"]);
    return (await this.ask(session.id, { type: "pairing-code", phoneNumber: digits })).code;
  }

  /** Drops what is kept about a deleted session. */
  forget(sessionId: string): void {
    this.checkLimiter.forget(sessionId);
  }

  private ask<R extends SandboxRequest>(sessionId: string, req: R): Promise<SandboxResponse<R>> {
    return askSandbox(this.d, sessionId, req);
  }
}

/** A request to the session's sandbox, its failures as the domain's errors. */
export async function askSandbox<R extends SandboxRequest>(
  d: { link: SandboxLink; requestTimeoutMs: number; channelWaitMs: number; log: Logger },
  sessionId: string,
  req: R,
): Promise<SandboxResponse<R>> {
  // Right after an API restart the sandboxes are still reconnecting: wait for this one a little.
  if (!d.link.isConnected(sessionId)) await d.link.waitForConnection(sessionId, d.channelWaitMs);
  try {
    return await d.link.request(sessionId, req, d.requestTimeoutMs);
  } catch (err) {
    if (err instanceof SandboxTimeout) {
      throw new SessionError("SANDBOX_TIMEOUT", `The session's sandbox did not answer within ${d.requestTimeoutMs} ms`);
    }
    if (err instanceof SandboxUnavailable) {
      throw new SessionError("SANDBOX_UNAVAILABLE", "The session's sandbox is not connected to the API right now; try again shortly");
    }
    // Whatever else the sandbox said is its own failure, not the client's: its words are
    // hostile input, so only a short machine code of it is passed on.
    const code = err instanceof ChannelError && /^[A-Z0-9_]{1,64}$/.test(err.code) ? err.code : undefined;
    d.log.warn("sandbox request failed", { sessionId, type: req.type, error: err });
    throw new SessionError("SANDBOX_ERROR", "The session's sandbox could not carry out the request", code ? { sandboxCode: code } : {});
  }
}

/** The digits of a phone number with country code (7 to 15, an optional leading +). */
function phoneDigits(field: string, value: string): string {
  if (!phonePattern.test(value)) throw sessionErrors.invalidPhone(field);
  return value.replace(/^\+/, "");
}
