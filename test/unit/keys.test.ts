import { describe, expect, test } from "bun:test";
import { generateKey, hashKey, keyKind } from "../../src/auth/keys";

describe("API keys", () => {
  test("session and admin keys have their prefix and 48 lowercase hex digits", () => {
    expect(generateKey("session")).toMatch(/^wask_[0-9a-f]{48}$/);
    expect(generateKey("admin")).toMatch(/^wamk_[0-9a-f]{48}$/);
  });

  test("keys do not repeat", () => {
    const keys = new Set(Array.from({ length: 1000 }, () => generateKey("session")));
    expect(keys.size).toBe(1000);
  });

  test("the stored hash is SHA-256 hex and never the key", () => {
    const key = generateKey("session");
    const hash = hashKey(key);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toContain(key.slice(5));
    expect(hashKey(key)).toBe(hash);
    expect(hashKey(generateKey("session"))).not.toBe(hash);
  });

  test("keyKind accepts only well-formed keys", () => {
    expect(keyKind(generateKey("session"))).toBe("session");
    expect(keyKind(generateKey("admin"))).toBe("admin");
    for (const bad of ["", "wask_", "wask_" + "A".repeat(48), "wask_" + "a".repeat(47), "wask_" + "a".repeat(49), "wxyz_" + "a".repeat(48), " wask_" + "a".repeat(48)]) {
      expect(keyKind(bad)).toBeNull();
    }
  });
});
