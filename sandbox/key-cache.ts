// The cache in front of the session's signal key store. Baileys' default caches every key it
// reads or writes for 5 minutes, including the 812 one-time pre-keys it generates and uploads at
// linking (each used at most once, when a contact first writes): about 0.3 MiB of an idle
// session's memory for keys that are on disk anyway. This one keeps the rest (sessions, sender
// keys, app-state keys, identities) for the same 5 minutes and never holds a pre-key.
import type { CacheStore } from "@whiskeysockets/baileys";

const TTL_MS = 5 * 60_000;

export class SignalKeyCache implements CacheStore {
  private readonly entries = new Map<string, { value: unknown; expires: number }>();
  private readonly sweeper = setInterval(() => this.sweep(), 60_000).unref();

  get<T>(key: string): T | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (hit.expires <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return hit.value as T;
  }

  set<T>(key: string, value: T): boolean {
    // makeCacheableSignalKeyStore names entries `${type}.${id}`.
    if (key.startsWith("pre-key.")) {
      this.entries.delete(key);
      return false;
    }
    this.entries.set(key, { value, expires: Date.now() + TTL_MS });
    return true;
  }

  del(key: string): boolean {
    return this.entries.delete(key);
  }

  flushAll(): void {
    this.entries.clear();
  }

  close(): void {
    clearInterval(this.sweeper);
    this.entries.clear();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, hit] of this.entries) if (hit.expires <= now) this.entries.delete(key);
  }
}
