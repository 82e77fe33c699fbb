// The webhook outbox's reads and updates: the open deliveries of a session in order, what
// became of each attempt, and pruning. Writes of new events live in outbox.ts.
import { and, asc, desc, eq, getTableColumns, gt, inArray, lt, lte, sql } from "drizzle-orm";
import type { Db } from "./client";
import { PreparedShapes } from "./prepared-shapes";
import { sessions, webhookDeliveries, webhookLeases, type DeliveryRow } from "./schema";
import { aliveNodeIds } from "./node-repository";

/**
 * Undelivered. Written out, not bound: the open index is partial on exactly this predicate, and
 * a prepared statement's generic plan can use it only when the values are in the text.
 */
const open = sql`${webhookDeliveries.status} in ('pending', 'failed')`;

export class DeliveryRepository {
  /** The dispatcher's statements, one shape each whatever the number of sessions or ids. */
  private readonly shapes = new PreparedShapes("deliveries");

  constructor(private readonly db: Db) {}

  /**
   * The undelivered events of several sessions in one statement, oldest first, at most `limit`
   * per session (a lateral read per session walks the open index no further than it needs).
   */
  openOfMany(sessionIds: string[], limit: number): Promise<DeliveryRow[]> {
    const statement = this.shapes.get("open", () => {
      // Straight from the lateral reads: selecting from the table again by seq would scan it whole.
      const firsts = this.db.$with("firsts", getTableColumns(webhookDeliveries)).as(
        sql`select d.* from unnest(${sql.placeholder("sessionIds")}::uuid[]) as s(id) cross join lateral (
          select * from ${webhookDeliveries} where ${webhookDeliveries.sessionId} = s.id and ${open} order by ${webhookDeliveries.seq} limit ${sql.placeholder("limit")}) d`,
      );
      return this.db.with(firsts).select().from(firsts).orderBy(asc(firsts.seq));
    });
    return statement.execute({ sessionIds, limit });
  }

  /**
   * Takes (or renews) the webhook leases of these sessions for `node`, good for `seconds`: the ones
   * it holds now. A session whose lease another live node holds, unexpired, is not among them.
   */
  async lease(sessionIds: string[], node: string, seconds: number, deadSeconds: number): Promise<Set<string>> {
    // From the sessions table: a session deleted meanwhile is left out, not a foreign-key error for the whole batch.
    const held = await this.db
      .insert(webhookLeases)
      .select(
        this.db
          .select({ sessionId: sessions.id, node: sql<string>`${node}::text`.as("node"), until: sql<Date>`now() + make_interval(secs => ${seconds})`.as("until") })
          .from(sessions)
          .where(inArray(sessions.id, [...new Set(sessionIds)])),
      )
      .onConflictDoUpdate({
        target: webhookLeases.sessionId,
        set: { node: sql`excluded.node`, until: sql`excluded.until` },
        // A dead node's lease is over too: its sessions' events need not wait out its time.
        setWhere: sql`${webhookLeases.until} < now() or ${webhookLeases.node} = excluded.node
          or ${webhookLeases.node} not in ${aliveNodeIds(deadSeconds)}`,
      })
      .returning({ sessionId: webhookLeases.sessionId });
    return new Set(held.map((h) => h.sessionId));
  }

  /** Gives back the leases `node` holds on these sessions. */
  async release(sessionIds: string[], node: string): Promise<void> {
    await this.db.delete(webhookLeases).where(and(inArray(webhookLeases.sessionId, [...new Set(sessionIds)]), eq(webhookLeases.node, node)));
  }

  /** Sessions with an undelivered event due by now. */
  async sessionsDue(now = new Date()): Promise<string[]> {
    const rows = await this.db
      .selectDistinct({ sessionId: webhookDeliveries.sessionId })
      .from(webhookDeliveries)
      .where(and(open, lte(webhookDeliveries.nextAttemptAt, now)));
    return rows.map((r) => r.sessionId);
  }

  /** When the next undelivered event anywhere is due (null when there is none). */
  async nextDue(): Promise<Date | null> {
    const [row] = await this.db.select({ at: sql<string | null>`min(${webhookDeliveries.nextAttemptAt})` }).from(webhookDeliveries).where(open);
    return row?.at ? new Date(row.at) : null;
  }

  /** Marks deliveries that got `status` (a 2xx) as delivered. */
  delivered(ids: string[], status: number): Promise<unknown> {
    const statement = this.shapes.get("delivered", () =>
      this.db
        .update(webhookDeliveries)
        .set({
          status: "delivered",
          lastStatus: sql`${sql.placeholder("status")}`,
          lastError: null,
          attempts: sql`${webhookDeliveries.attempts} + 1`,
          deliveredAt: sql`${sql.placeholder("at")}`,
        })
        .where(sql`${webhookDeliveries.id} = any(${sql.placeholder("ids")}::text[])`),
    );
    // As text: Drizzle hands postgres.js dates unserialized (its columns map them, a placeholder does not).
    return statement.execute({ ids, status, at: new Date().toISOString() });
  }

  /** An attempt failed: retried at `nextAttemptAt`, or `dead` when it is null. */
  failed(id: string, outcome: { status: number | null; error: string | null; nextAttemptAt: Date | null }): Promise<unknown> {
    return this.db
      .update(webhookDeliveries)
      .set({
        status: outcome.nextAttemptAt ? "failed" : "dead",
        lastStatus: outcome.status,
        lastError: outcome.error,
        attempts: sql`${webhookDeliveries.attempts} + 1`,
        ...(outcome.nextAttemptAt ? { nextAttemptAt: outcome.nextAttemptAt } : {}),
      })
      .where(eq(webhookDeliveries.id, id));
  }

  /** The receiver is gone (410): its webhook is disabled and nothing more is sent to it. */
  async disable(sessionId: string, reason: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.update(sessions).set({ webhookDisabledReason: reason }).where(eq(sessions.id, sessionId));
      await tx
        .update(webhookDeliveries)
        .set({ status: "dead", lastError: reason })
        .where(and(eq(webhookDeliveries.sessionId, sessionId), open));
    });
  }

  /** Open deliveries of a session whose webhook is gone are dead: nobody will take them. */
  async abandon(sessionId: string, reason: string): Promise<void> {
    await this.db.update(webhookDeliveries).set({ status: "dead", lastError: reason }).where(and(eq(webhookDeliveries.sessionId, sessionId), open));
  }

  list(sessionId: string, limit: number): Promise<DeliveryRow[]> {
    return this.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.sessionId, sessionId)).orderBy(desc(webhookDeliveries.seq)).limit(limit);
  }

  /** The session's undelivered events are due now (a new URL or secret: the old backoff no longer says anything); how many. */
  async dueNow(sessionId: string): Promise<number> {
    const due = await this.db
      .update(webhookDeliveries)
      .set({ nextAttemptAt: new Date() })
      .where(and(eq(webhookDeliveries.sessionId, sessionId), open, gt(webhookDeliveries.nextAttemptAt, sql`now()`)))
      .returning({ id: webhookDeliveries.id });
    return due.length;
  }

  /** A dead delivery goes out again now, with a fresh retry window; null when there is no such dead one. */
  async retry(sessionId: string, id: string): Promise<DeliveryRow | null> {
    const now = new Date();
    const [row] = await this.db
      .update(webhookDeliveries)
      .set({ status: "pending", nextAttemptAt: now, retriedAt: now })
      .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.sessionId, sessionId), eq(webhookDeliveries.status, "dead")))
      .returning();
    return row ?? null;
  }

  byId(sessionId: string, id: string): Promise<DeliveryRow | undefined> {
    return this.db
      .select()
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.sessionId, sessionId)))
      .then((r) => r[0]);
  }

  /** Delivered rows older than `before` go. */
  async prune(before: Date): Promise<number> {
    const gone = await this.db
      .delete(webhookDeliveries)
      .where(and(eq(webhookDeliveries.status, "delivered"), lt(webhookDeliveries.deliveredAt, before)))
      .returning({ id: webhookDeliveries.id });
    return gone.length;
  }

  /** Counts by status, for operators. */
  async counts(): Promise<Record<string, number>> {
    const rows = await this.db.select({ status: webhookDeliveries.status, n: sql<number>`count(*)::int` }).from(webhookDeliveries).groupBy(webhookDeliveries.status);
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }
}
