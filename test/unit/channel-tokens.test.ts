import { describe, expect, test } from "bun:test";
import { SignJWT, UnsecuredJWT } from "jose";
import { randomUUID } from "node:crypto";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CHANNEL_AUDIENCE, CHANNEL_ISSUER } from "../../src/channel/frames";
import { ChannelTokens, loadChannelKey } from "../../src/channel/tokens";

const secret = "s".repeat(40);
const tokens = new ChannelTokens(secret);
const key = new TextEncoder().encode(secret);
const a = randomUUID();
const b = randomUUID();
const launch = randomUUID();

function claims(overrides: { sub?: string; aud?: string; iss?: string; exp?: number; lid?: unknown } = {}) {
  return new SignJWT("lid" in overrides ? (overrides.lid === undefined ? {} : { lid: overrides.lid }) : { lid: launch })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(overrides.sub ?? a)
    .setAudience(overrides.aud ?? CHANNEL_AUDIENCE)
    .setIssuer(overrides.iss ?? CHANNEL_ISSUER)
    .setIssuedAt()
    .setExpirationTime(overrides.exp ?? Math.floor(Date.now() / 1000) + 60);
}

describe("channel tokens", () => {
  test("a token is valid for its own session and names its launch", async () => {
    expect(await tokens.verify(await tokens.sign(a, launch), a)).toEqual({ sessionId: a, launchId: launch });
    expect(await tokens.verify(await claims().sign(key), a)).toEqual({ sessionId: a, launchId: launch });
  });

  test("a token for session A is refused for session B", async () => {
    expect(await tokens.verify(await tokens.sign(a, launch), b)).toBeNull();
  });

  test("a token without a launch, or with a launch id that is not ours, is refused", async () => {
    expect(await tokens.verify(await claims({ lid: undefined }).sign(key), a)).toBeNull();
    expect(await tokens.verify(await claims({ lid: 42 }).sign(key), a)).toBeNull();
    expect(await tokens.verify(await claims({ lid: "" }).sign(key), a)).toBeNull();
    expect(await tokens.verify(await claims({ lid: "x".repeat(65) }).sign(key), a)).toBeNull();
    expect(await tokens.verify(await claims({ lid: "a b" }).sign(key), a)).toBeNull();
    await expect(tokens.sign(a, "")).rejects.toBeInstanceOf(TypeError);
    // A caller not yet passing a launch (JavaScript, or a cast) gets an error, not a token without one.
    await expect(tokens.sign(a, undefined as unknown as string)).rejects.toBeInstanceOf(TypeError);
  });

  test("an expired token is refused", async () => {
    const expired = await claims({ exp: Math.floor(Date.now() / 1000) - 10 }).sign(key);
    expect(await tokens.verify(expired, a)).toBeNull();
  });

  test("a token signed with another key is refused", async () => {
    const forged = await claims().sign(new TextEncoder().encode("x".repeat(40)));
    expect(await tokens.verify(forged, a)).toBeNull();
  });

  test("an alg:none token is refused", async () => {
    const none = new UnsecuredJWT({ lid: launch }).setSubject(a).setAudience(CHANNEL_AUDIENCE).setIssuer(CHANNEL_ISSUER).setExpirationTime("1m").encode();
    expect(await tokens.verify(none, a)).toBeNull();
  });

  test("a token for another audience or issuer is refused", async () => {
    expect(await tokens.verify(await claims({ aud: "something-else" }).sign(key), a)).toBeNull();
    expect(await tokens.verify(await claims({ iss: "someone-else" }).sign(key), a)).toBeNull();
  });

  test("a tampered token is refused", async () => {
    const good = await tokens.sign(a, launch);
    const [h, p, s] = good.split(".");
    const retarget = (change: (payload: Record<string, unknown>) => void) => {
      const payload = JSON.parse(Buffer.from(p!, "base64url").toString());
      change(payload);
      return [h, Buffer.from(JSON.stringify(payload)).toString("base64url"), s].join(".");
    };
    expect(await tokens.verify(retarget((c) => (c.sub = b)), b)).toBeNull();
    // A sandbox of an old launch cannot move its token to the current launch.
    expect(await tokens.verify(retarget((c) => (c.lid = randomUUID())), a)).toBeNull();
    expect(await tokens.verify("not-a-jwt", a)).toBeNull();
  });

  test("the generated signing key persists with mode 0600", () => {
    const dir = mkdtempSync(join(tmpdir(), "chan-key-"));
    const first = loadChannelKey(undefined, dir);
    expect(first.length).toBe(32);
    expect(Buffer.from(loadChannelKey(undefined, dir)).equals(Buffer.from(first))).toBe(true);
    expect(statSync(join(dir, "channel.key")).mode & 0o777).toBe(0o600);
  });
});
