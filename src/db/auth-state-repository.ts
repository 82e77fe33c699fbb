// The sessions' mirrored auth state (sealed entries; see sessions/auth-state.ts): written as the
// sandbox reports changes, read whole when a session starts on a node that has no copy of it.
import { and, eq, inArray, sql } from "drizzle-orm";
import type { Db } from "./client";
import { authState } from "./schema";

export class AuthStateRepository {
  constructor(private readonly db: Db) {}

  /** Entries written (a value) or removed (null), in one transaction: a batch lands whole or not at all. */
  async write(sessionId: string, entries: { name: string; value: string | null }[]): Promise<void> {
    // The last write of a name in the batch wins (a key set and then removed).
    const last = new Map(entries.map((e) => [e.name, e.value]));
    const removed = [...last].filter(([, v]) => v === null).map(([n]) => n);
    const written = [...last].filter(([, v]) => v !== null).map(([name, value]) => ({ sessionId, name, value: value! }));
    const apply = async (tx: Pick<Db, "insert" | "delete">) => {
      if (removed.length) await tx.delete(authState).where(and(eq(authState.sessionId, sessionId), inArray(authState.name, removed)));
      if (written.length) {
        await tx
          .insert(authState)
          .values(written)
          .onConflictDoUpdate({ target: [authState.sessionId, authState.name], set: { value: sql`excluded.value` } });
      }
    };
    if (removed.length && written.length) await this.db.transaction(apply);
    else await apply(this.db);
  }

  read(sessionId: string): Promise<{ name: string; value: string }[]> {
    return this.db.select({ name: authState.name, value: authState.value }).from(authState).where(eq(authState.sessionId, sessionId));
  }

  /** What the session's entries take, names and sealed values. */
  async size(sessionId: string): Promise<number> {
    const [row] = await this.db
      .select({ n: sql<number>`coalesce(sum(length(${authState.name}) + length(${authState.value})), 0)::bigint` })
      .from(authState)
      .where(eq(authState.sessionId, sessionId));
    return Number(row?.n ?? 0);
  }

  async clear(sessionId: string): Promise<void> {
    await this.db.delete(authState).where(eq(authState.sessionId, sessionId));
  }
}
