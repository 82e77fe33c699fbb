// Rows in, rows out: every SQL statement about sessions lives here, none in the routes.
import { and, asc, count, desc, eq, getTableColumns, isNull, sql } from "drizzle-orm";
import type { Db } from "./client";
import { enqueueIn, outboxValues, outboxWith, type OutboxEvent, type OutboxEvents } from "./outbox";
import { givenKeys, placeholders, PreparedShapes } from "./prepared-shapes";
import {
  chats,
  contacts,
  sessionEvents,
  sessions,
  type ChatRow,
  type ContactRow,
  type NewSessionRow,
  type SessionEventRow,
  type SessionRow,
  groups,
  lidMappings,
  messages,
} from "./schema";

/** A chat's last message as the chat list shows it: a preview of its text, never the whole. */
export interface LastMessage {
  id: string;
  type: string;
  fromMe: boolean;
  timestamp: number;
  revoked: boolean;
  /** The text, caption, poll question, place or card name, cut to PREVIEW_LENGTH characters. */
  text: string | null;
}
const PREVIEW_LENGTH = 100;
import type { SessionState } from "../model/session-states";

/** The advisory lock creates take while they count the sessions ("wask" in ASCII). */
const CREATE_LOCK = 0x7761736b;

/** Fields that change with the state or beside it. */
export type SessionFields = Partial<Pick<SessionRow, "phoneNumber" | "pushName" | "qr" | "launchId">>;

export type ContactInput = Omit<ContactRow, "sessionId" | "updatedAt">;
/** A chat as reported; an unknown unread count (null) leaves the stored one alone. */
export type ChatInput = Omit<ChatRow, "sessionId" | "updatedAt" | "unreadCount"> & { unreadCount: number | null };

/** One row per id (the last report wins): Postgres refuses to upsert one row twice in a statement. */
function lastById<T extends { id: string }>(items: T[]): T[] {
  return [...new Map(items.map((i) => [i.id, i])).values()];
}

/**
 * Rows per upsert statement: PostgreSQL takes at most 65,535 bind parameters per statement, and
 * a contact or chat row binds at most 7, so one statement per 1,000 rows stays well within it.
 */
const UPSERT_CHUNK = 1000;

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** Writes one state change, inside the transaction that made it, so events keep its order. */
function recordEvent(tx: Pick<Db, "insert">, sessionId: string, from: SessionState | null, to: SessionState, reason: string | null) {
  return tx.insert(sessionEvents).values({ sessionId, fromState: from, toState: to, reason });
}

/** What a sandbox synced for an account: gone when the account is unlinked. */
async function clearSyncedIn(tx: Pick<Db, "delete">, sessionId: string): Promise<void> {
  await tx.delete(contacts).where(eq(contacts.sessionId, sessionId));
  await tx.delete(chats).where(eq(chats.sessionId, sessionId));
  await tx.delete(groups).where(eq(groups.sessionId, sessionId));
  await tx.delete(lidMappings).where(eq(lidMappings.sessionId, sessionId));
}

/** How long a session row read from the database is served from memory. */
const CACHE_TTL_MS = 1000;

export class SessionRepository {
  /**
   * Session rows by id, written through on every change this API makes and re-read after a
   * second, so the hot read path (every authenticated call) rarely waits for the database.
   * One API instance owns its sessions; another writer's change shows within the TTL.
   */
  private readonly cache = new Map<string, { row: SessionRow; at: number }>();
  private readonly idByKeyHash = new Map<string, string>();
  private readonly shapes = new PreparedShapes("sessions");

  constructor(private readonly db: Db) {}

  private remember(row: SessionRow | null | undefined): SessionRow | null {
    if (!row) return null;
    this.cache.set(row.id, { row, at: Date.now() });
    this.idByKeyHash.set(row.keyHash, row.id);
    return row;
  }

  private cached(id: string | undefined): SessionRow | null {
    const hit = id ? this.cache.get(id) : undefined;
    return hit && Date.now() - hit.at < CACHE_TTL_MS ? hit.row : null;
  }

  /** The next read of this session goes to the database (it is gone, or another node changed it). */
  forget(id: string): void {
    const hit = this.cache.get(id);
    if (hit) this.idByKeyHash.delete(hit.row.keyHash);
    this.cache.delete(id);
  }

  /**
   * A new session; null when its name is taken, "full" when `maxSessions` exist already (on its node). The
   * count and the insert hold one lock, so creates racing for the last place cannot both win.
   */
  async insert(row: NewSessionRow, events?: OutboxEvents, maxSessions = Infinity): Promise<SessionRow | null | "full"> {
    const inserted = await this.db.transaction(async (tx) => {
      if (Number.isFinite(maxSessions)) {
        await tx.execute(sql`select pg_advisory_xact_lock(${CREATE_LOCK})`);
        // A node's capacity counts the sessions it owns; one without nodes counts them all.
        const [taken] = await tx.select({ n: count() }).from(sessions).where(row.node ? eq(sessions.node, row.node) : undefined);
        if (Number(taken?.n ?? 0) >= maxSessions) return "full" as const;
      }
      const [created] = await tx.insert(sessions).values(row).onConflictDoNothing().returning();
      if (created) {
        await recordEvent(tx, created.id, null, created.state, null);
        await enqueueIn(tx, created, events);
      }
      return created;
    });
    return inserted === "full" ? inserted : this.remember(inserted);
  }

  async byId(id: string): Promise<SessionRow | null> {
    const hit = this.cached(id);
    if (hit) return hit;
    const rows = await this.db.select().from(sessions).where(eq(sessions.id, id)).limit(1);
    if (!rows[0]) this.forget(id);
    return this.remember(rows[0]);
  }

  async byKeyHash(keyHash: string): Promise<SessionRow | null> {
    const hit = this.cached(this.idByKeyHash.get(keyHash));
    if (hit) return hit;
    const rows = await this.db.select().from(sessions).where(eq(sessions.keyHash, keyHash)).limit(1);
    return this.remember(rows[0]);
  }

  async list(): Promise<SessionRow[]> {
    return this.db.select().from(sessions).orderBy(asc(sessions.createdAt), asc(sessions.name));
  }

  async count(): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(sessions);
    return Number(row?.n ?? 0);
  }

  /** How many sessions are in each state (states with none are absent). */
  async countByState(): Promise<Record<string, number>> {
    const rows = await this.db.select({ state: sessions.state, n: count() }).from(sessions).groupBy(sessions.state);
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  /**
   * Compare-and-set of the state, so two writers racing on one session cannot both win.
   * Returns the updated row, or null when the state was no longer `from`.
   */
  async transition(
    id: string,
    from: SessionState,
    to: SessionState,
    reason: string | null,
    extra: SessionFields = {},
    opts: { clearSynced?: boolean; events?: OutboxEvents } = {},
  ): Promise<SessionRow | null> {
    const now = new Date();
    // One transaction: the row stays locked until its event is written, so events are in the
    // order of the changes; synced data goes only with a change that was made.
    const row = await this.db.transaction(async (tx) => {
      const updated = await tx
        .update(sessions)
        .set({ state: to, stateReason: reason, lastActivity: now, ...extra, ...(extra.qr ? { qrUpdatedAt: now } : {}) })
        .where(and(eq(sessions.id, id), eq(sessions.state, from)))
        .returning();
      if (updated[0]) {
        await recordEvent(tx, id, from, to, reason);
        if (opts.clearSynced) await clearSyncedIn(tx, id);
        await enqueueIn(tx, updated[0], opts.events);
      }
      return updated[0];
    });
    if (!row) {
      this.forget(id); // someone else moved it: the next read must see the database
      return null;
    }
    return this.remember(row);
  }

  /** Changes fields without changing the state (a refreshed QR, a learned push name), with its events in the same statement. */
  async update(
    id: string,
    fields: SessionFields & Partial<Pick<SessionRow, "qrUpdatedAt" | "stateReason">>,
    events: OutboxEvent[] = [],
  ): Promise<SessionRow | null> {
    const names = givenKeys(fields);
    const statement = this.shapes.get(`update:${names.join(",")}:${events.length}`, () => {
      const set = placeholders([...names, "lastActivity"]);
      const changed = this.db.$with("changed").as(
        this.db
          .update(sessions)
          .set(set as never)
          .where(eq(sessions.id, sql.placeholder("id")))
          .returning(),
      );
      return this.db.with(changed, ...outboxWith(this.db, changed, events.length)).select().from(changed);
    });
    const [updated] = await statement.execute({ ...fields, lastActivity: new Date(), id, ...outboxValues(id, events) });
    return this.remember(updated);
  }

  /** Changes what the owner manages (webhook, metadata); no state, no event. */
  async updateSettings(
    id: string,
    fields: Partial<Pick<SessionRow, "webhookUrl" | "webhookEvents" | "webhookDisabledReason" | "webhookSecretSalt" | "metadata" | "proxyEncrypted" | "proxyMasked">>,
  ): Promise<SessionRow | null> {
    if (Object.keys(fields).length === 0) return this.byId(id);
    const [row] = await this.db.update(sessions).set(fields).where(eq(sessions.id, id)).returning();
    return this.remember(row);
  }

  /**
   * A new webhook secret salt, only if the salt is still `from` (two rotations at once: the
   * second finds it changed); null when it was not.
   */
  async rotateSalt(id: string, from: string | null, to: string): Promise<SessionRow | null> {
    const same = from === null ? isNull(sessions.webhookSecretSalt) : eq(sessions.webhookSecretSalt, from);
    const [row] = await this.db.update(sessions).set({ webhookSecretSalt: to }).where(and(eq(sessions.id, id), same)).returning();
    if (!row) this.forget(id); // changed by someone else: the next read must see the database
    return this.remember(row);
  }

  async touch(id: string): Promise<void> {
    const lastActivity = new Date();
    await this.db.update(sessions).set({ lastActivity }).where(eq(sessions.id, id));
    const hit = this.cache.get(id);
    if (hit) hit.row = { ...hit.row, lastActivity };
  }

  async remove(id: string): Promise<boolean> {
    const removed = await this.db.delete(sessions).where(eq(sessions.id, id)).returning({ id: sessions.id });
    this.forget(id);
    return removed.length > 0;
  }


  /** Writes reported contacts; a partial update (say, only `notify`) keeps what was known before. */
  async upsertContacts(session: SessionRow, reported: ContactInput[], events?: OutboxEvents): Promise<void> {
    const sessionId = session.id;
    const items = lastById(reported);
    if (items.length === 0) return;
    await this.db.transaction(async (tx) => {
      await enqueueIn(tx, session, events);
      for (const chunk of chunks(items, UPSERT_CHUNK)) {
        await tx
          .insert(contacts)
          .values(chunk.map((c) => ({ ...c, sessionId })))
          .onConflictDoUpdate({
            target: [contacts.sessionId, contacts.id],
            set: {
              name: sql`coalesce(excluded.name, ${contacts.name})`,
              notify: sql`coalesce(excluded.notify, ${contacts.notify})`,
              verifiedName: sql`coalesce(excluded.verified_name, ${contacts.verifiedName})`,
              phone: sql`coalesce(excluded.phone, ${contacts.phone})`,
              updatedAt: sql`now()`,
            },
          });
      }
    });
  }

  async upsertChats(session: SessionRow, reported: ChatInput[], events?: OutboxEvents): Promise<void> {
    const sessionId = session.id;
    const items = lastById(reported);
    if (items.length === 0) return;
    const known = items.filter((c) => c.unreadCount !== null);
    const partial = items.filter((c) => c.unreadCount === null);
    const common = {
      name: sql`coalesce(excluded.name, ${chats.name})`,
      isGroup: sql`excluded.is_group`,
      timestamp: sql`coalesce(excluded.timestamp, ${chats.timestamp})`,
      updatedAt: sql`now()`,
    };
    await this.db.transaction(async (tx) => {
      await enqueueIn(tx, session, events);
      for (const chunk of chunks(known, UPSERT_CHUNK)) {
        await tx
          .insert(chats)
          .values(chunk.map((c) => ({ ...c, unreadCount: c.unreadCount ?? 0, sessionId })))
          .onConflictDoUpdate({ target: [chats.sessionId, chats.id], set: { ...common, unreadCount: sql`excluded.unread_count` } });
      }
      for (const chunk of chunks(partial, UPSERT_CHUNK)) {
        await tx
          .insert(chats)
          .values(chunk.map((c) => ({ ...c, unreadCount: 0, sessionId })))
          .onConflictDoUpdate({ target: [chats.sessionId, chats.id], set: common });
      }
    });
  }

  async contacts(sessionId: string): Promise<ContactRow[]> {
    return this.db.select().from(contacts).where(eq(contacts.sessionId, sessionId)).orderBy(asc(contacts.id));
  }

  /**
   * The chats, each with its last stored message (the chat index serves it, one row a chat). The
   * outer columns are named by hand: Drizzle writes a column of the one table selected without
   * its table, which inside the subquery would name the message's own.
   */
  async chats(sessionId: string): Promise<(ChatRow & { lastMessage: LastMessage | null })[]> {
    const last = sql<LastMessage | null>`(select json_build_object('id', m.id, 'type', m.type, 'fromMe', m.from_me, 'timestamp', m.timestamp, 'revoked', m.revoked,
        'text', left(coalesce(m.text, m.caption, m.poll->>'question', m.location->>'name', m.contacts->0->>'name'), ${PREVIEW_LENGTH}))
      from ${messages} m where m.session_id = "chats"."session_id" and m.chat_id = "chats"."id" order by m.timestamp desc, m.seq desc limit 1)`;
    return this.db
      .select({ ...getTableColumns(chats), lastMessage: last })
      .from(chats)
      .where(eq(chats.sessionId, sessionId))
      .orderBy(sql`${chats.timestamp} desc nulls last`, asc(chats.id));
  }

  /** The latest state changes of a session, newest first. */
  async events(sessionId: string, limit: number): Promise<SessionEventRow[]> {
    return this.db
      .select()
      .from(sessionEvents)
      .where(eq(sessionEvents.sessionId, sessionId))
      .orderBy(desc(sessionEvents.id))
      .limit(limit);
  }

  async clearSynced(sessionId: string): Promise<void> {
    await this.db.transaction((tx) => clearSyncedIn(tx, sessionId));
  }
}
