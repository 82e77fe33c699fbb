// Messages in and out. A status only moves forward (src/model/messages.ts), and every change is
// written with its webhook event; an incoming message updates its chat in the same statement.
import { and, asc, desc, eq, gt, inArray, lt, ne, or, sql } from "drizzle-orm";
import type { Db } from "./client";
import { enqueueIn, outboxValues, outboxWith, type OutboxEvent } from "./outbox";
import { givenKeys, placeholders, PreparedShapes } from "./prepared-shapes";
import { statusesBefore, type MediaState, type MessageStatus, type StoredMedia } from "../model/messages";
import { chats, messages, type MessageRow, type SessionRow } from "./schema";

export type NewMessage = Omit<typeof messages.$inferInsert, "sessionId" | "createdAt">;

export interface Cursor {
  timestamp: number;
  seq: number;
}

export class MessageRepository {
  private readonly shapes = new PreparedShapes("messages");

  constructor(private readonly db: Db) {}

  /** A message to send, stored before anything leaves; null when its idempotency key is taken. */
  async insertOutgoing(session: SessionRow, m: NewMessage): Promise<MessageRow | null> {
    const [row] = await this.db
      .insert(messages)
      .values({ ...m, sessionId: session.id })
      .onConflictDoNothing()
      .returning();
    return row ?? null;
  }

  byId(sessionId: string, id: string): Promise<MessageRow | undefined> {
    return this.db
      .select()
      .from(messages)
      .where(and(eq(messages.sessionId, sessionId), eq(messages.id, id)))
      .then((r) => r[0]);
  }

  /** The message an Idempotency-Key made; an older use of the key (before `since`) is forgotten. */
  async byIdempotencyKey(sessionId: string, key: string, since: Date): Promise<MessageRow | undefined> {
    const [row] = await this.db.select().from(messages).where(and(eq(messages.sessionId, sessionId), eq(messages.idempotencyKey, key)));
    if (!row) return undefined;
    if (row.createdAt >= since) return row;
    await this.db.update(messages).set({ idempotencyKey: null }).where(and(eq(messages.sessionId, sessionId), eq(messages.id, row.id)));
    return undefined;
  }

  /**
   * Moves a message's status forward, with its events in the same statement; the row after, or
   * null when it was no step forward (or, with `inChat`, the message is in another chat).
   */
  async setStatus(
    session: SessionRow,
    id: string,
    status: MessageStatus,
    extra: { timestamp?: number; error?: string | null } = {},
    events: OutboxEvent[] = [],
    inChat?: string,
  ): Promise<MessageRow | null> {
    const names = givenKeys(extra);
    const statement = this.shapes.get(`status:${status}:${names.join(",")}:${events.length}:${inChat === undefined ? "" : "chat"}`, () => {
      const set = placeholders(names);
      const changed = this.db.$with("changed").as(
        this.db
          .update(messages)
          // The status and those it may come from are part of the shape: fixed in the statement.
          .set({ status, ...set } as never)
          .where(
            and(
              eq(messages.sessionId, sql.placeholder("sessionId")),
              eq(messages.id, sql.placeholder("id")),
              inArray(messages.status, statusesBefore(status)),
              inChat === undefined ? undefined : eq(messages.chatId, sql.placeholder("chatId")),
            ),
          )
          .returning(),
      );
      return this.db.with(changed, ...outboxWith(this.db, changed, events.length)).select().from(changed);
    });
    const [row] = await statement.execute({ ...extra, sessionId: session.id, id, chatId: inChat, ...outboxValues(session.id, events) });
    return row ?? null;
  }

  /**
   * Stores a message the account received (or its phone sent), its chat's time and unread count,
   * and its events, in one statement; false when it was already stored.
   */
  async insertIncoming(session: SessionRow, m: NewMessage, events: OutboxEvent[] = []): Promise<boolean> {
    const names = givenKeys(m);
    const statement = this.shapes.get(`incoming:${names.join(",")}:${events.length}`, () => {
      const values = placeholders(names);
      const inserted = this.db.$with("changed").as(
        this.db
          .insert(messages)
          .values({ ...values, sessionId: sql.placeholder("sessionId") } as never)
          .onConflictDoNothing()
          .returning({ id: messages.id, chatId: messages.chatId, fromMe: messages.fromMe, timestamp: messages.timestamp }),
      );
      // Its chat takes its time and, when a contact sent it, one more unread.
      const chat = this.db.$with("chat", {}).as(sql`insert into ${chats} as c (session_id, id, name, is_group, unread_count, timestamp)
        select ${sql.placeholder("sessionId")}::uuid, i.chat_id, null, i.chat_id like '%@g.us', case when i.from_me then 0 else 1 end, i.timestamp from ${inserted} i
        on conflict (session_id, id) do update set timestamp = greatest(coalesce(c.timestamp, 0), excluded.timestamp),
          unread_count = c.unread_count + excluded.unread_count, updated_at = now()`);
      return this.db.with(inserted, chat, ...outboxWith(this.db, inserted, events.length)).select().from(inserted);
    });
    const rows = await statement.execute({ ...m, sessionId: session.id, ...outboxValues(session.id, events) });
    return rows.length > 0;
  }

  /** WhatsApp's time of a sent message, when a receipt moved it on before the server's ack was stored. */
  async setSentAt(sessionId: string, id: string, timestamp: number): Promise<MessageRow | undefined> {
    const [row] = await this.db
      .update(messages)
      .set({ timestamp })
      .where(and(eq(messages.sessionId, sessionId), eq(messages.id, id)))
      .returning();
    return row;
  }

  /** Events that change no row (presence): written alone; true when the webhook takes any. */
  async raise(session: SessionRow, events: OutboxEvent[]): Promise<boolean> {
    return (await this.db.transaction((tx) => enqueueIn(tx, session, events))) > 0;
  }

  /** A chat's messages, newest first (in one second, the last stored first), before the cursor. */
  listChat(sessionId: string, chatId: string, limit: number, cursor: Cursor | null): Promise<MessageRow[]> {
    const page = cursor
      ? or(lt(messages.timestamp, cursor.timestamp), and(eq(messages.timestamp, cursor.timestamp), lt(messages.seq, cursor.seq)))
      : undefined;
    return this.db
      .select()
      .from(messages)
      .where(and(eq(messages.sessionId, sessionId), eq(messages.chatId, chatId), page))
      .orderBy(desc(messages.timestamp), desc(messages.seq))
      .limit(limit);
  }

  /** Outgoing messages not yet taken by WhatsApp, oldest first. */
  pendingOutgoing(sessionId: string): Promise<MessageRow[]> {
    return this.db
      .select()
      .from(messages)
      // The status written out, not bound: the pending index is partial on it (see delivery-repository's `open`).
      .where(and(eq(messages.sessionId, sessionId), sql`${messages.status} = 'pending'`, eq(messages.fromMe, true)))
      .orderBy(asc(messages.createdAt));
  }

  /**
   * Up to `limit` incoming messages of a chat not marked read yet, oldest first, after `after`
   * (the last of the page before): a chat of any size is read in bounded pages.
   */
  unreadIncoming(sessionId: string, chatId: string, limit: number, after: Cursor | null = null): Promise<{ id: string; timestamp: number; seq: number }[]> {
    const page = after
      ? or(gt(messages.timestamp, after.timestamp), and(eq(messages.timestamp, after.timestamp), gt(messages.seq, after.seq)))
      : undefined;
    return this.db
      .select({ id: messages.id, timestamp: messages.timestamp, seq: messages.seq })
      .from(messages)
      .where(and(eq(messages.sessionId, sessionId), eq(messages.chatId, chatId), eq(messages.fromMe, false), ne(messages.status, "read"), page))
      .orderBy(asc(messages.timestamp), asc(messages.seq))
      .limit(limit);
  }

  /** These incoming messages are read (their receipts went): at most a page of ids, one bounded statement. */
  async markRead(sessionId: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.update(messages).set({ status: "read" }).where(and(eq(messages.sessionId, sessionId), inArray(messages.id, ids)));
  }

  /** The chat shows nothing unread. */
  async clearUnread(sessionId: string, chatId: string): Promise<void> {
    await this.db.update(chats).set({ unreadCount: 0 }).where(and(eq(chats.sessionId, sessionId), eq(chats.id, chatId), gt(chats.unreadCount, 0)));
  }

  /**
   * A message's file moved on (stored, failed, expired), with its events in the same
   * transaction; the row after, or null when the file was not in one of the states `from`.
   */
  async setMedia(session: SessionRow, id: string, media: StoredMedia, from: MediaState[], events: (row: MessageRow) => OutboxEvent[] = () => []): Promise<MessageRow | null> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx
        .update(messages)
        .set({ media })
        .where(and(eq(messages.sessionId, session.id), eq(messages.id, id), inArray(sql<string>`${messages.media}->>'state'`, from)))
        .returning();
      if (!row) return null;
      await enqueueIn(tx, session, events(row));
      return row;
    });
  }

  /** Stored files of messages older than `before` are expired (retention); the files they had. */
  async expireMedia(before: Date): Promise<string[]> {
    const rows = await this.db
      .update(messages)
      .set({ media: sql`jsonb_set(${messages.media}, '{state}', '"expired"')` })
      .where(and(sql`${messages.media}->>'state' = 'stored'`, sql`coalesce((${messages.media}->>'storedAt')::timestamptz, ${messages.createdAt}) < ${before.toISOString()}::timestamptz`))
      .returning({ sha256: sql<string>`${messages.media}->>'sha256'` });
    return [...new Set(rows.map((r) => r.sha256))];
  }

  /** Messages whose file has been on its way since before `before` (at most `limit`). */
  stalePending(before: Date, limit: number): Promise<{ sessionId: string; id: string }[]> {
    return this.db
      .select({ sessionId: messages.sessionId, id: messages.id })
      .from(messages)
      .where(and(sql`${messages.media}->>'state' = 'pending'`, sql`coalesce((${messages.media}->>'requested')::timestamptz, ${messages.createdAt}) < ${before.toISOString()}::timestamptz`))
      .limit(limit);
  }

  /** The stored files of a session's messages (sha256 hex, each once). */
  async mediaOf(sessionId: string): Promise<string[]> {
    const rows = await this.db
      .selectDistinct({ sha256: sql<string>`${messages.media}->>'sha256'` })
      .from(messages)
      .where(and(eq(messages.sessionId, sessionId), sql`${messages.media}->>'state' = 'stored'`));
    return rows.map((r) => r.sha256);
  }

  /** Whether any message still carries the file as stored (content-addressed files are shared). */
  async mediaInUse(sha256: string): Promise<boolean> {
    const [row] = await this.db
      .select({ id: messages.id })
      .from(messages)
      .where(and(sql`${messages.media}->>'sha256' = ${sha256}`, sql`${messages.media}->>'state' = 'stored'`))
      .limit(1);
    return !!row;
  }
}
