// The account's groups and the LID mappings its client learned. A group is one row, its members
// a JSON array in it, so a group's read is one row however many members it has; each change is
// written with its webhook events in one transaction, and a group is also a chat (isGroup).
import { and, asc, eq, inArray, notInArray, sql } from "drizzle-orm";
import type { Db } from "./client";
import { enqueueIn, type OutboxEvent } from "./outbox";
import { PreparedShapes } from "./prepared-shapes";
import { chats, groups, lidMappings, type GroupRow, type SessionRow } from "./schema";
import { lidOfJid, phoneOfJid, type GroupChanges, type GroupParticipant, type ParticipantAction } from "../model/groups";

/** A group as it is written: what WhatsApp reported, members with phone numbers where known. */
export interface GroupInput {
  id: string;
  subject: string;
  description: string | null;
  owner: string | null;
  /** Seconds since the epoch. */
  createdAt: number | null;
  announce: boolean;
  locked: boolean;
  isAdmin: boolean;
  participants: GroupParticipant[];
}

/** A group's summary (no members): what the list answers. */
export type GroupSummaryRow = Omit<GroupRow, "participants" | "sessionId" | "updatedAt">;

const summary = {
  id: groups.id,
  subject: groups.subject,
  description: groups.description,
  owner: groups.owner,
  createdAt: groups.createdAt,
  announce: groups.announce,
  locked: groups.locked,
  isAdmin: groups.isAdmin,
  size: groups.size,
};

type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

export class GroupRepository {
  /** The read every group call makes, prepared once. */
  private readonly shapes = new PreparedShapes("groups");

  constructor(private readonly db: Db) {}

  list(sessionId: string): Promise<GroupSummaryRow[]> {
    return this.db.select(summary).from(groups).where(eq(groups.sessionId, sessionId)).orderBy(asc(groups.subject), asc(groups.id));
  }

  /**
   * The group's version: its last write's time to the microsecond, as text. A read that finds the
   * version it already answered for answers the same again (see src/http/sessions/groups.ts).
   */
  async versionOf(sessionId: string, id: string): Promise<string | undefined> {
    const statement = this.shapes.get("version", () =>
      this.db
        .select({ version: sql<string>`${groups.updatedAt}::text` })
        .from(groups)
        .where(and(eq(groups.sessionId, sql.placeholder("sessionId")), eq(groups.id, sql.placeholder("id")))),
    );
    const [row] = await statement.execute({ sessionId, id });
    return row?.version;
  }

  /** A group with its members as the stored JSON text: a read hands it on without parsing it. */
  async byIdRaw(sessionId: string, id: string): Promise<(GroupSummaryRow & { participantsJson: string; version: string }) | undefined> {
    const [row] = await this.db
      .select({ ...summary, participantsJson: sql<string>`${groups.participants}::text`, version: sql<string>`${groups.updatedAt}::text` })
      .from(groups)
      .where(and(eq(groups.sessionId, sessionId), eq(groups.id, id)));
    return row;
  }

  async byId(sessionId: string, id: string): Promise<GroupRow | undefined> {
    const [row] = await this.db
      .select()
      .from(groups)
      .where(and(eq(groups.sessionId, sessionId), eq(groups.id, id)));
    return row;
  }

  /**
   * Writes a group as WhatsApp has it now, and its chat's name. `eventsIfNew` are written only
   * when the group was not stored before (the account just joined it). True when it was new.
   */
  async upsert(session: SessionRow, g: GroupInput, eventsIfNew: OutboxEvent[] = []): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const participants = await this.withPhones(tx, session.id, g.participants);
      const values = {
        subject: g.subject,
        description: g.description,
        owner: g.owner,
        createdAt: g.createdAt === null ? null : new Date(g.createdAt * 1000),
        announce: g.announce,
        locked: g.locked,
        isAdmin: g.isAdmin,
        size: participants.length,
        participants,
      };
      const [row] = await tx
        .insert(groups)
        .values({ sessionId: session.id, id: g.id, ...values })
        .onConflictDoUpdate({ target: [groups.sessionId, groups.id], set: { ...values, updatedAt: sql`now()` } })
        // xmax is 0 for a row this statement inserted, not one it updated.
        .returning({ inserted: sql<boolean>`xmax = 0` });
      await this.chatNamed(tx, session.id, g.id, g.subject);
      if (row?.inserted) await enqueueIn(tx, session, eventsIfNew);
      return !!row?.inserted;
    });
  }

  /** Settings changed at WhatsApp; false when the group is not stored (nothing written). */
  async applyChanges(session: SessionRow, id: string, changes: GroupChanges, events: OutboxEvent[]): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const set: Partial<typeof groups.$inferInsert> = {};
      if (changes.subject !== undefined) set.subject = changes.subject;
      if (changes.description !== undefined) set.description = changes.description;
      if (changes.announce !== undefined) set.announce = changes.announce;
      if (changes.locked !== undefined) set.locked = changes.locked;
      const changed = await tx
        .update(groups)
        .set({ ...set, updatedAt: sql`now()` })
        .where(and(eq(groups.sessionId, session.id), eq(groups.id, id)))
        .returning({ id: groups.id });
      if (changed.length === 0) return false;
      if (changes.subject !== undefined) await this.chatNamed(tx, session.id, id, changes.subject);
      await enqueueIn(tx, session, events);
      return true;
    });
  }

  /**
   * Members added, removed, promoted or demoted at WhatsApp. `isMe` says which member is the
   * account, whose role decides `isAdmin`. False when the group is not stored.
   */
  async applyParticipants(
    session: SessionRow,
    id: string,
    action: ParticipantAction,
    members: { id: string; phoneNumber: string | null }[],
    isMe: (p: GroupParticipant) => boolean,
    events: OutboxEvent[],
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx
        .select({ participants: groups.participants })
        .from(groups)
        .where(and(eq(groups.sessionId, session.id), eq(groups.id, id)))
        .for("update");
      if (!row) return false;
      const named = await this.withPhones(tx, session.id, members.map((m) => ({ ...m, role: "member" as const })));
      const ids = new Set(named.map((m) => m.id));
      const phones = new Set(named.flatMap((m) => (m.phoneNumber ? [m.phoneNumber] : [])));
      const same = (p: GroupParticipant) => ids.has(p.id) || (p.phoneNumber !== null && phones.has(p.phoneNumber));
      let participants = row.participants;
      if (action === "remove") participants = participants.filter((p) => !same(p));
      else if (action === "add") participants = [...participants, ...named.filter((m) => !participants.some((p) => p.id === m.id))];
      else participants = participants.map((p) => (same(p) && p.role !== "superadmin" ? { ...p, role: action === "promote" ? "admin" : "member" } : p));
      const mine = participants.find(isMe);
      await tx
        .update(groups)
        .set({ participants, size: participants.length, isAdmin: !!mine && mine.role !== "member", updatedAt: sql`now()` })
        .where(and(eq(groups.sessionId, session.id), eq(groups.id, id)));
      await enqueueIn(tx, session, events);
      return true;
    });
  }

  /** The account left the group (or was removed): it is forgotten, its chat and messages stay. */
  async remove(session: SessionRow, id: string, events: OutboxEvent[]): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const gone = await tx
        .delete(groups)
        .where(and(eq(groups.sessionId, session.id), eq(groups.id, id)))
        .returning({ id: groups.id });
      if (gone.length > 0) await enqueueIn(tx, session, events);
      return gone.length > 0;
    });
  }

  /** After a sync: groups not in `ids` are forgotten, each with its events; the ids forgotten. */
  async keepOnly(session: SessionRow, ids: string[], eventsFor: (id: string) => OutboxEvent[]): Promise<string[]> {
    return this.db.transaction(async (tx) => {
      const gone = await tx
        .delete(groups)
        .where(and(eq(groups.sessionId, session.id), ids.length ? notInArray(groups.id, ids) : undefined))
        .returning({ id: groups.id });
      await enqueueIn(tx, session, gone.flatMap((g) => eventsFor(g.id)));
      return gone.map((g) => g.id);
    });
  }

  /** LID mappings the client learned; members stored without a phone number get theirs. */
  async addLidMappings(sessionId: string, pairs: { lid: string; phone: string }[]): Promise<void> {
    if (pairs.length === 0) return;
    await this.db.transaction(async (tx) => {
      await tx
        .insert(lidMappings)
        .values(pairs.map((p) => ({ sessionId, ...p })))
        .onConflictDoUpdate({ target: [lidMappings.sessionId, lidMappings.lid], set: { phone: sql`excluded.phone` } });
      // Only groups with a member still unnamed are rewritten, in their members' order.
      await tx.execute(sql`update ${groups} g set participants = (
          select jsonb_agg(case when e.p->>'phoneNumber' is null and m.phone is not null then jsonb_set(e.p, '{phoneNumber}', to_jsonb(m.phone)) else e.p end order by e.o)
          from jsonb_array_elements(g.participants) with ordinality as e(p, o)
          left join ${lidMappings} m on m.session_id = g.session_id and e.p->>'id' like '%@lid' and m.lid = split_part(split_part(e.p->>'id', '@', 1), ':', 1)
        ), updated_at = now()
        where g.session_id = ${sessionId}::uuid and jsonb_path_exists(g.participants, '$[*] ? (@.phoneNumber == null)')`);
    });
  }

  /** The phone numbers of LIDs this session's client learned. */
  async phonesOfLids(sessionId: string, lids: string[], tx: Pick<Db, "select"> = this.db): Promise<Map<string, string>> {
    if (lids.length === 0) return new Map();
    const rows = await tx
      .select({ lid: lidMappings.lid, phone: lidMappings.phone })
      .from(lidMappings)
      .where(and(eq(lidMappings.sessionId, sessionId), inArray(lidMappings.lid, lids)));
    return new Map(rows.map((r) => [r.lid, r.phone]));
  }

  /** Members with a phone number wherever it is known: their own, their jid's, or a learned LID's. */
  private async withPhones(tx: Tx, sessionId: string, members: GroupParticipant[]): Promise<GroupParticipant[]> {
    const unknown = [...new Set(members.filter((m) => !m.phoneNumber && lidOfJid(m.id)).map((m) => lidOfJid(m.id)!))];
    const known = await this.phonesOfLids(sessionId, unknown, tx);
    return members.map((m) => ({ id: m.id, phoneNumber: m.phoneNumber ?? phoneOfJid(m.id) ?? known.get(lidOfJid(m.id) ?? "") ?? null, role: m.role }));
  }

  private async chatNamed(tx: Tx, sessionId: string, id: string, subject: string): Promise<void> {
    await tx
      .insert(chats)
      .values({ sessionId, id, name: subject, isGroup: true, unreadCount: 0 })
      .onConflictDoUpdate({ target: [chats.sessionId, chats.id], set: { name: subject, isGroup: true, updatedAt: sql`now()` } });
  }
}
