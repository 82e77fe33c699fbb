// Channel tokens: HS256 JWTs that only this API can sign (the key never leaves it), valid for
// one session (`sub`), one container launch of it (`lid`), one audience, and a short time.
// Verification pins the algorithm, so `alg: none` and tokens signed with anything else are
// refused. Whether the launch is still the session's current one is the domain's to say (the
// channel hub asks it at every connect and renewal).
import { SignJWT, jwtVerify } from "jose";
import { loadKey } from "../key-file";
import { CHANNEL_AUDIENCE, CHANNEL_ISSUER } from "./frames";

export const TOKEN_TTL_SECONDS = 15 * 60;

/** Launch ids are ours (UUIDs in practice); anything else in a token is refused. */
const LAUNCH_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

export interface ChannelClaims {
  sessionId: string;
  launchId: string;
}

export class ChannelTokens {
  private readonly key: Uint8Array;

  constructor(secret: string | Uint8Array) {
    this.key = typeof secret === "string" ? new TextEncoder().encode(secret) : secret;
  }

  sign(sessionId: string, launchId: string, ttlSeconds = TOKEN_TTL_SECONDS): Promise<string> {
    if (typeof launchId !== "string" || !LAUNCH_ID.test(launchId)) return Promise.reject(new TypeError("a channel token needs a launch id"));
    return new SignJWT({ lid: launchId })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(sessionId)
      .setAudience(CHANNEL_AUDIENCE)
      .setIssuer(CHANNEL_ISSUER)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(this.key);
  }

  /** Resolves to the session and launch the token is for, or null for any invalid token. */
  async verify(token: string, expectedSessionId: string): Promise<ChannelClaims | null> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ["HS256"],
        audience: CHANNEL_AUDIENCE,
        issuer: CHANNEL_ISSUER,
        subject: expectedSessionId,
        requiredClaims: ["exp", "iat", "sub", "lid"],
      });
      const { sub, lid } = payload;
      return sub === expectedSessionId && typeof lid === "string" && LAUNCH_ID.test(lid) ? { sessionId: sub, launchId: lid } : null;
    } catch {
      return null;
    }
  }
}

/** The channel's signing key: CHANNEL_SECRET, or one kept in DATA_DIR so tokens outlive restarts. */
export function loadChannelKey(secret: string | undefined, dataDir: string): Uint8Array {
  return loadKey(secret, dataDir, "channel.key");
}
