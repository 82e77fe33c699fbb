// The mirror of each session's WhatsApp auth state (credentials and Signal keys) in the
// database, so the session can start on another node without a new QR. The sandbox reports its
// changes as acknowledged reports, ahead of the report of any message they encrypted or
// decrypted; each entry is sealed under AUTH_STATE_KEY (outside the database), bound to its
// session and name. A sandbox that starts with an empty volume asks for the whole of it.
import type { AuthStateRepository } from "../db/auth-state-repository";
import { Sealer } from "../sealer";

export type AuthEntry = [name: string, value: string | null];

export class AuthStateMirror {
  private readonly sealer: Sealer;

  constructor(
    private readonly repo: AuthStateRepository,
    outsideKey: Uint8Array,
  ) {
    this.sealer = new Sealer(outsideKey, "wa-session-api auth state");
  }

  store(sessionId: string, entries: AuthEntry[]): Promise<void> {
    return this.repo.write(
      sessionId,
      entries.map(([name, value]) => ({ name, value: value === null ? null : this.sealer.seal(`${sessionId}/${name}`, value) })),
    );
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
    return this.repo.clear(sessionId);
  }
}
