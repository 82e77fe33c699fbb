// Who is calling: the admin, or one session's key. A key is hashed before anything is looked
// up and found by its hash, so the answer's timing does not depend on how much of a real key
// the caller knows.
import type { AdminKeyRepository } from "../db/admin-key-repository";
import type { SessionRow } from "../db/schema";
import { hashKey, keyKind } from "./keys";

export type Caller =
  | { kind: "admin" }
  | { kind: "session"; session: SessionRow }
  /** No key, let in only where self-service session create is open. */
  | { kind: "anonymous" };

export class Callers {
  constructor(
    private readonly sessionByKeyHash: (hash: string) => Promise<SessionRow | null>,
    private readonly adminKeys: AdminKeyRepository,
  ) {}

  /** The caller a key belongs to, or null for a key that is no key of ours. */
  async identify(key: string): Promise<Caller | null> {
    const hash = hashKey(key);
    const kind = keyKind(key);
    if (kind === "admin") return (await this.adminKeys.has(hash)) ? { kind: "admin" } : null;
    if (kind === "session") {
      const session = await this.sessionByKeyHash(hash);
      return session ? { kind: "session", session } : null;
    }
    return null;
  }
}
