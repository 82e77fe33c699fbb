// The nodes sharing this database, and which node owns which session. Time is the database's
// (`now()`): the nodes' clocks may disagree, the one server they share does not.
import { and, eq, inArray, isNotNull, isNull, ne, notInArray, sql } from "drizzle-orm";
import type { Db } from "./client";
import { nodes, sessions, type NodeRow, type SessionRow } from "./schema";
import { isLive } from "../model/session-states";

export type NodeState = "live" | "draining" | "dead";

/** The ids of the nodes seen within `deadSeconds`, by the database's clock (a subquery). */
export function aliveNodeIds(deadSeconds: number) {
  return sql`(select n.id from nodes n where n.last_seen > now() - make_interval(secs => ${deadSeconds}))`;
}

export interface NodeView {
  id: string;
  url: string;
  capacity: number;
  /** Sessions the node owns (whatever their state). */
  sessions: number;
  state: NodeState;
  lastSeen: Date;
}

export interface NodeSelf {
  id: string;
  url: string;
  capacity: number;
  bootId: string;
}

export class NodeRepository {
  constructor(private readonly db: Db) {}

  /** This node at start: live, with its URL and capacity as configured now. */
  async register(self: NodeSelf): Promise<void> {
    const values = { id: self.id, url: self.url, capacity: self.capacity, bootId: self.bootId, state: "live" as const };
    await this.db
      .insert(nodes)
      .values(values)
      .onConflictDoUpdate({ target: nodes.id, set: { url: values.url, capacity: values.capacity, bootId: values.bootId, state: "live", startedAt: sql`now()`, lastSeen: sql`now()` } });
  }

  /** The heartbeat: this node is alive now. Answers its row (another node may have set it draining). */
  async beat(id: string): Promise<NodeRow | null> {
    const [row] = await this.db.update(nodes).set({ lastSeen: sql`now()` }).where(eq(nodes.id, id)).returning();
    return row ?? null;
  }

  /** Every node with its session count and state (`dead` past `deadSeconds` without a heartbeat). */
  async list(deadSeconds: number): Promise<NodeView[]> {
    const rows = await this.db
      .select({
        id: nodes.id,
        url: nodes.url,
        capacity: nodes.capacity,
        state: nodes.state,
        lastSeen: nodes.lastSeen,
        dead: sql<boolean>`${nodes.lastSeen} < now() - make_interval(secs => ${deadSeconds})`,
        // Qualified by hand: inside the subquery a bare "id" would be the session's.
        sessions: sql<number>`(select count(*)::int from sessions s where s.node = nodes.id)`,
      })
      .from(nodes)
      .orderBy(nodes.id);
    return rows.map((r) => ({
      id: r.id,
      url: r.url,
      capacity: r.capacity,
      sessions: Number(r.sessions),
      state: r.dead ? "dead" : r.state,
      lastSeen: r.lastSeen,
    }));
  }

  async setState(id: string, state: "live" | "draining"): Promise<boolean> {
    const changed = await this.db.update(nodes).set({ state }).where(eq(nodes.id, id)).returning({ id: nodes.id });
    return changed.length > 0;
  }

  /**
   * Sessions made before nodes existed (no node yet) become this node's: those whose containers
   * its engine holds (`local`); and, when it is the only node, the rest too, unless some of them
   * should have a container (stopped or live) and it holds none: then it is not the host they
   * ran on (a new node started before the install's own host), and it takes nothing more.
   */
  async claimUnowned(node: string, local: string[]): Promise<number> {
    const unowned = await this.db.select({ id: sessions.id, state: sessions.state }).from(sessions).where(isNull(sessions.node));
    if (unowned.length === 0) return 0;
    const here = new Set(local);
    const mine = unowned.filter((s) => here.has(s.id)).map((s) => s.id);
    const [others] = await this.db.select({ n: sql<number>`count(*)::int` }).from(nodes).where(ne(nodes.id, node));
    const alone = Number(others?.n ?? 0) === 0;
    const hasContainer = (state: string) => state === "stopped" || isLive(state as SessionRow["state"]);
    const theirHost = mine.length > 0 || !unowned.some((s) => hasContainer(s.state));
    const ids = alone && theirHost ? unowned.map((s) => s.id) : mine;
    if (ids.length === 0) return 0;
    const claimed = await this.db
      .update(sessions)
      .set({ node })
      .where(and(isNull(sessions.node), inArray(sessions.id, ids)))
      .returning({ id: sessions.id });
    return claimed.length;
  }

  /**
   * Sessions of a dead or unknown node whose containers this node's engine holds become its own,
   * as they are (this node runs them: a node whose id changed, its DATA_DIR/node-id lost).
   */
  async claimHeld(node: string, local: string[], deadSeconds: number): Promise<number> {
    if (local.length === 0) return 0;
    const alive = aliveNodeIds(deadSeconds);
    const claimed = await this.db
      .update(sessions)
      .set({ node })
      .where(and(inArray(sessions.id, local), isNotNull(sessions.node), ne(sessions.node, node), sql`${sessions.node} not in ${alive}`))
      .returning({ id: sessions.id });
    return claimed.length;
  }

  /** One node alone (PGlite): every session is its own, whatever node a former id of it had. */
  async claimAll(node: string): Promise<number> {
    const claimed = await this.db
      .update(sessions)
      .set({ node })
      .where(sql`${sessions.node} is distinct from ${node}`)
      .returning({ id: sessions.id });
    return claimed.length;
  }

  /** Ids and owners of the sessions with these ids (containers found in the engine). */
  owners(ids: string[]): Promise<{ id: string; node: string | null }[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.db.select({ id: sessions.id, node: sessions.node }).from(sessions).where(inArray(sessions.id, ids));
  }

  /**
   * Up to `limit` sessions of dead nodes (not seen for `deadSeconds` by the database's clock, or
   * not registered at all) become this node's, each marked with why: judged in the statement, not
   * from a list read earlier, and rows locked and skipped when another node takes them at the same
   * moment, so a session goes to one node. The launch is cleared: the dead node's sandbox, should
   * it come back, is no longer admitted.
   */
  async adopt(node: string, deadSeconds: number, limit: number, why: (from: string) => string): Promise<SessionRow[]> {
    if (limit <= 0) return [];
    const alive = aliveNodeIds(deadSeconds);
    return this.db.transaction(async (tx) => {
      const picked = await tx
        .select({ id: sessions.id, from: sessions.node })
        .from(sessions)
        .where(and(isNotNull(sessions.node), ne(sessions.node, node), sql`${sessions.node} not in ${alive}`))
        .orderBy(sessions.createdAt)
        .limit(limit)
        .for("update", { skipLocked: true });
      const adopted: SessionRow[] = [];
      for (const p of picked) {
        const [row] = await tx
          .update(sessions)
          .set({ node, handover: why(p.from!), launchId: null })
          .where(and(eq(sessions.id, p.id), eq(sessions.node, p.from!)))
          .returning();
        if (row) adopted.push(row);
      }
      return adopted;
    });
  }

  /** The session goes from `from` to `to` (a move or a drain), if `from` still owns it. */
  async handTo(id: string, from: string | null, to: string, why: string): Promise<SessionRow | null> {
    const [row] = await this.db
      .update(sessions)
      .set({ node: to, handover: why, launchId: null })
      .where(and(eq(sessions.id, id), from === null ? isNull(sessions.node) : eq(sessions.node, from)))
      .returning();
    return row ?? null;
  }

  /** Sessions handed to this node and not yet launched here. */
  handedTo(node: string, limit: number): Promise<SessionRow[]> {
    return this.db
      .select()
      .from(sessions)
      .where(and(eq(sessions.node, node), isNotNull(sessions.handover)))
      .orderBy(sessions.createdAt)
      .limit(limit);
  }

  /** The session as the database has it now (no cache: ownership changes on other nodes). */
  async byId(id: string): Promise<SessionRow | null> {
    const [row] = await this.db.select().from(sessions).where(eq(sessions.id, id));
    return row ?? null;
  }

  /** The handover is done (the session launched here, or had nothing to launch). */
  async settled(id: string, node: string): Promise<void> {
    await this.db.update(sessions).set({ handover: null }).where(and(eq(sessions.id, id), eq(sessions.node, node)));
  }

  /** How many sessions the node owns. */
  async count(node: string): Promise<number> {
    const [row] = await this.db.select({ n: sql<number>`count(*)::int` }).from(sessions).where(eq(sessions.node, node));
    return Number(row?.n ?? 0);
  }

  /** Another node's sessions (ids), for a drain. */
  async idsOf(node: string, limit: number, except: string[] = []): Promise<string[]> {
    const rows = await this.db
      .select({ id: sessions.id })
      .from(sessions)
      .where(and(eq(sessions.node, node), except.length ? notInArray(sessions.id, except) : sql`true`, ne(sessions.state, "creating")))
      .limit(limit);
    return rows.map((r) => r.id);
  }
}
