// What happens to a stored message after it was stored: reactions, edits, a delete for everyone
// and poll votes. Each reads the row under a lock, changes it, and writes it with its webhook
// events in one transaction; a message not stored changes nothing and raises nothing.
import { and, eq } from "drizzle-orm";
import type { Db } from "./client";
import { enqueueIn, type OutboxEvent } from "./outbox";
import { messages, type MessageRow, type SessionRow } from "./schema";
import type { Reaction } from "../model/messages";

type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

/** A change to a locked row: the fields to write and the events to raise, or null for no change. */
type Change = (row: MessageRow) => { set: Partial<typeof messages.$inferInsert>; events: OutboxEvent[] } | null;

export class MessageChanges {
  constructor(private readonly db: Db) {}

  /** One reaction per sender, the latest wins; "" takes the sender's reaction away. */
  react(session: SessionRow, id: string, chatId: string | null, r: Reaction, events: OutboxEvent[]): Promise<MessageRow | null> {
    return this.change(session, id, chatId, (row) => {
      if (row.revoked) return null;
      const others = (row.reactions ?? []).filter((x) => x.from !== r.from);
      const earlier = (row.reactions ?? []).find((x) => x.from === r.from);
      // An older reaction than the one stored (redelivered after a newer one) changes nothing.
      if (earlier && earlier.timestamp > r.timestamp) return null;
      return { set: { reactions: r.emoji ? [...others, r] : others }, events };
    });
  }

  /** A new text (or caption, for a file) from the message's sender. */
  edit(session: SessionRow, id: string, chatId: string | null, text: string, at: Date, events: (row: MessageRow) => OutboxEvent[]): Promise<MessageRow | null> {
    return this.change(session, id, chatId, (row) => {
      if (row.revoked) return null;
      const set = row.media ? { caption: text, editedAt: at } : { text, editedAt: at };
      return { set, events: events({ ...row, ...set }) };
    });
  }

  /**
   * Deleted for everyone: the id stays, its content goes. Answers the file the message carried
   * (its sha256, for the caller to remove if unused), or null when nothing changed.
   */
  async revoke(session: SessionRow, id: string, chatId: string | null, events: OutboxEvent[]): Promise<{ file: string | null } | null> {
    let file: string | null = null;
    const row = await this.change(session, id, chatId, (locked) => {
      if (locked.revoked) return null;
      file = locked.media?.sha256 ?? null;
      return { set: { revoked: true, text: null, caption: null, media: null, location: null, contacts: null, poll: null, mentions: null }, events };
    });
    return row ? { file } : null;
  }

  /** A voter's whole choice now (none: the vote taken back). */
  vote(session: SessionRow, id: string, chatId: string | null, voter: string, options: string[], events: OutboxEvent[]): Promise<MessageRow | null> {
    return this.change(session, id, chatId, (row) => {
      if (!row.poll || row.revoked) return null;
      const known = options.filter((o) => row.poll!.options.includes(o));
      const votes = { ...row.poll.votes };
      if (known.length) votes[voter] = known;
      else delete votes[voter];
      return { set: { poll: { ...row.poll, votes } }, events };
    });
  }

  private change(session: SessionRow, id: string, chatId: string | null, change: Change): Promise<MessageRow | null> {
    return this.db.transaction(async (tx: Tx) => {
      const [row] = await tx
        .select()
        .from(messages)
        .where(and(eq(messages.sessionId, session.id), eq(messages.id, id), chatId === null ? undefined : eq(messages.chatId, chatId)))
        .for("update");
      if (!row) return null;
      const made = change(row);
      if (!made) return null;
      const [updated] = await tx
        .update(messages)
        .set(made.set)
        .where(and(eq(messages.sessionId, session.id), eq(messages.id, id)))
        .returning();
      await enqueueIn(tx, session, made.events);
      return updated ?? null;
    });
  }
}
