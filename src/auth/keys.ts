// API keys: a prefix and 48 lowercase hex digits from the CSPRNG. Only SHA-256 hashes are
// stored; a key is found by the hash of what the caller sent, so the lookup's timing does not
// depend on how many characters of a real key the caller guessed.
import { randomBytes } from "node:crypto";
import { sha256Hex } from "../platform/sha256";

export type KeyKind = "session" | "admin";
const prefixes: Record<KeyKind, string> = { session: "wask_", admin: "wamk_" };
const keyPattern = /^(wask|wamk)_[0-9a-f]{48}$/;

export function generateKey(kind: KeyKind): string {
  return prefixes[kind] + randomBytes(24).toString("hex");
}

export function hashKey(key: string): string {
  return sha256Hex(key);
}

/** The kind a well-formed key claims to be, or null for anything malformed. */
export function keyKind(key: string): KeyKind | null {
  const m = keyPattern.exec(key);
  if (!m) return null;
  return m[1] === "wamk" ? "admin" : "session";
}
