// The mirror of each session's WhatsApp auth state (credentials and Signal keys) in the
// database, so the session can start on another node without a new QR. The sandbox reports its
// changes as acknowledged reports, ahead of the report of any message they encrypted or
// decrypted; each entry is sealed under AUTH_STATE_KEY (outside the database), bound to its
// session and name. A sandbox that starts with an empty volume asks for the whole of it.
import type { AuthStateRepository } from "../db/auth-state-repository";
import { Sealer } from "../sealer";

export type AuthEntry = [name: string, value: string | null];

/**
 * The most a session's mirror may hold, sealed: a large account's keys take a few MiB; a hostile
 * sandbox must not fill the database, nor make a restore that the API cannot hold in memory.
 */
export const MAX_AUTH_STATE_BYTES = 64 * 1024 * 1024;

export class AuthStateMirror {
  private readonly sealer: Sealer;
  /**
   * Bytes written per session since its size was last read from the database: an upper bound
   * (a key written again counts again), read anew when it passes the limit.
   */
  private readonly written = new Map<string, number>();

  constructor(
    private readonly repo: AuthStateRepository,
    outsideKey: Uint8Array,
    private readonly maxBytes = MAX_AUTH_STATE_BYTES,
  ) {
    this.sealer = new Sealer(outsideKey, "wa-session-api auth state");
  }

  /** Stores the entries; false (nothing stored) when they would take the session's mirror past its limit. */
  async store(sessionId: string, entries: AuthEntry[]): Promise<boolean> {
    const sealed = entries.map(([name, value]) => ({ name, value: value === null ? null : this.sealer.seal(`${sessionId}/${name}`, value) }));
    const adding = sealed.reduce((n, e) => n + e.name.length + (e.value?.length ?? 0), 0);
    let bytes = this.written.get(sessionId) ?? (await this.repo.size(sessionId));
    // Past the limit by the upper bound: the real size decides (keys rewritten count once there).
    if (bytes + adding > this.maxBytes) bytes = await this.repo.size(sessionId);
    if (bytes + adding > this.maxBytes) return false;
    await this.repo.write(sessionId, sealed);
    this.written.set(sessionId, bytes + adding);
    return true;
  }

  /** Every entry, opened; one that does not open (another AUTH_STATE_KEY) is left out and counted. */
  async snapshot(sessionId: string): Promise<{ entries: [string, string][]; unreadable: number }> {
    const entries: [string, string][] = [];
    let unreadable = 0;
    for (const row of await this.repo.read(sessionId)) {
      const value = this.sealer.open(`${sessionId}/${row.name}`, row.value);
      if (value === null) unreadable++;
      else entries.push([row.name, value]);
    }
    return { entries, unreadable };
  }

  clear(sessionId: string): Promise<void> {
    this.written.delete(sessionId);
    return this.repo.clear(sessionId);
  }
}
