// Who is calling: the admin, or one session's key. A key is hashed before anything is looked
// up and found by its hash, so the answer's timing does not depend on how much of a real key
// the caller knows.
import { hashKey, keyKind } from "../auth/keys";
import type { SessionRow } from "../db/schema";
import type { AdminKeyRepository } from "../db/admin-key-repository";
import type { SessionRepository } from "../db/session-repository";
import { errors } from "./errors";

export type Caller =
  | { kind: "admin" }
  | { kind: "session"; session: SessionRow }
  /** No key, let in only where self-service session create is open. */
  | { kind: "anonymous" };

export class Authenticator {
  constructor(
    private readonly sessions: SessionRepository,
    private readonly adminKeys: AdminKeyRepository,
  ) {}

  async authenticate(header: string | null | undefined): Promise<Caller> {
    if (header === null || header === undefined || header === "") throw errors.missingKey();
    const hash = hashKey(header);
    const kind = keyKind(header);
    if (kind === "admin") {
      if (await this.adminKeys.has(hash)) return { kind: "admin" };
    } else if (kind === "session") {
      const session = await this.sessions.byKeyHash(hash);
      if (session) return { kind: "session", session };
    }
    throw errors.invalidKey();
  }
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * May this caller act on session `id`? A session key reaches only its own session (403
 * otherwise, whether or not `id` exists, so keys cannot probe for other sessions).
 */
export function authorizeSession(caller: Caller, id: string): void {
  if (caller.kind === "admin") return;
  if (caller.kind === "session" && caller.session.id === id) return;
  throw errors.forbidden("another session");
}

export function isUuid(id: string): boolean {
  return uuidPattern.test(id);
}

export function requireAdmin(caller: Caller, what: string): void {
  if (caller.kind !== "admin") throw errors.forbidden(what);
}
