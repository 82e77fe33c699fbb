// The rest of a conversation around stored messages: reactions, edits, deletes for everyone and
// poll votes, asked for by the client (through the sandbox, then stored) or reported by the
// sandbox (stored with their webhooks); and presence, sent or heard, never stored.
import type { Report } from "../channel/frames";
import type { SandboxLink } from "../channel/link";
import type { MessageChanges } from "../db/message-changes";
import type { MessageRepository } from "../db/message-repository";
import type { MessageRow, SessionRow } from "../db/schema";
import { EDIT_WINDOW_SECONDS } from "../model/messages";
import type { Logger } from "../log";
import { SessionError, sessionErrors } from "./errors";
import type { Groups } from "./groups";
import type { MediaFiles } from "./media";
import { chatJid } from "./messaging";
import { askSandbox } from "./sandbox-calls";

export interface ConversationDeps {
  messages: MessageRepository;
  changes: MessageChanges;
  groups: Pick<Groups, "isAdmin">;
  media: Pick<MediaFiles, "removeUnused">;
  link: SandboxLink;
  requestTimeoutMs: number;
  channelWaitMs: number;
  log: Logger;
  onWritten?: (sessionId: string) => void;
}

export const chatPresences = ["composing", "recording", "paused"] as const;
export const accountPresences = ["available", "unavailable"] as const;

type Reported = Extract<Report, { type: "reaction" | "edited" | "revoked" | "poll_vote" | "presence" }>;

/** One emoji: a single grapheme that is a pictograph (with its modifiers and joiners), or "" to take it back. */
export function isOneEmoji(value: string): boolean {
  if (value === "") return true;
  const graphemes = [...new Intl.Segmenter("en", { granularity: "grapheme" }).segment(value)];
  // Keycaps (1️⃣, #️⃣) are a digit or sign with the enclosing keycap mark.
  return graphemes.length === 1 && /\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20E3/u.test(value);
}

export class Conversations {
  constructor(private readonly d: ConversationDeps) {}

  async react(session: SessionRow, id: string, emoji: string): Promise<void> {
    if (!isOneEmoji(emoji)) throw sessionErrors.invalidField("emoji", 'one emoji, or "" to remove the reaction');
    const m = await this.stored(session, id, "react to a message");
    if (m.revoked) throw new SessionError("MESSAGE_NOT_FOUND", "The message was deleted for everyone");
    await askSandbox(this.d, session.id, { type: "react", target: this.target(m), emoji });
    const now = Math.floor(Date.now() / 1000);
    if (await this.d.changes.react(session, id, null, { from: "me", emoji, timestamp: now }, [])) this.d.onWritten?.(session.id);
  }

  async edit(session: SessionRow, id: string, text: string): Promise<MessageRow> {
    const m = await this.stored(session, id, "edit a message");
    // WhatsApp must have it: a message still pending, or failed, has nothing there to edit.
    const editable = m.fromMe && !m.revoked && m.status !== "pending" && m.status !== "failed" && (m.type === "text" || (m.media !== null && m.caption !== null));
    if (!editable) throw new SessionError("MESSAGE_NOT_EDITABLE", "Only a text (or a caption) the account sent can be edited");
    if (Date.now() / 1000 - m.timestamp > EDIT_WINDOW_SECONDS) {
      throw new SessionError("MESSAGE_NOT_EDITABLE", `WhatsApp allows edits for ${EDIT_WINDOW_SECONDS / 60} minutes after a message was sent`);
    }
    await askSandbox(this.d, session.id, { type: "edit", target: this.target(m), text, caption: m.type !== "text" });
    return (await this.d.changes.edit(session, id, null, text, new Date(), () => [])) ?? m;
  }

  async revoke(session: SessionRow, id: string): Promise<void> {
    const m = await this.stored(session, id, "delete a message");
    if (m.revoked) return;
    if (!m.fromMe) {
      if (!m.chatId.endsWith("@g.us")) throw new SessionError("MESSAGE_NOT_REVOCABLE", "Only the account's own messages can be deleted for everyone in a direct chat");
      if (!(await this.d.groups.isAdmin(session, m.chatId))) throw sessionErrors.notGroupAdmin("delete another member's message");
    }
    await askSandbox(this.d, session.id, { type: "revoke", target: this.target(m) });
    // The client asked for it: stored without a webhook, as the API's reactions and edits are.
    await this.applyRevoke(session, m.id, null, null, false);
  }

  /** The input is judged before the session's state: a wrong state word is 400 whatever the session is doing. */
  async presence(session: SessionRow, chatId: string | null, state: string): Promise<void> {
    if (chatId === null) {
      if (!(accountPresences as readonly string[]).includes(state)) throw sessionErrors.invalidField("state", "available or unavailable");
      ready(session, "send presence");
      await askSandbox(this.d, session.id, { type: "presence", state: state as (typeof accountPresences)[number] });
      return;
    }
    if (!(chatPresences as readonly string[]).includes(state)) throw sessionErrors.invalidField("state", "composing, recording or paused");
    const jid = chatJid(chatId, "chatId");
    ready(session, "send presence");
    await askSandbox(this.d, session.id, { type: "presence", chatId: jid, state: state as (typeof chatPresences)[number] });
  }

  async subscribe(session: SessionRow, chatId: string): Promise<void> {
    const jid = chatJid(chatId, "chatId");
    ready(session, "subscribe to presence");
    await askSandbox(this.d, session.id, { type: "presence-subscribe", chatId: jid });
  }

  /** What the sandbox reported of stored messages and presence. */
  async reported(session: SessionRow, r: Reported): Promise<void> {
    const { changes } = this.d;
    let wrote = false;
    switch (r.type) {
      case "reaction": {
        const data = { id: r.id, chatId: r.chatId, from: r.from, emoji: r.emoji };
        wrote = !!(await changes.react(session, r.id, r.chatId, { from: r.from, emoji: r.emoji, timestamp: r.timestamp }, [{ event: "message.reaction", data }]));
        break;
      }
      case "edited": {
        const at = new Date(r.timestamp * 1000);
        wrote = !!(await changes.edit(session, r.id, r.chatId, r.text, at, () => [{ event: "message.edited", data: { id: r.id, chatId: r.chatId, text: r.text, editedAt: at.toISOString() } }]));
        break;
      }
      case "revoked":
        wrote = await this.applyRevoke(session, r.id, r.chatId, r.by, true);
        break;
      case "poll_vote":
        wrote = !!(await changes.vote(session, r.id, r.chatId, r.voter, r.options, [{ event: "poll.vote", data: { id: r.id, chatId: r.chatId, voter: r.voter, options: r.options } }]));
        break;
      case "presence": {
        // Only webhooks that list presence.update take it (the outbox judges it); nothing is stored.
        const data = { chatId: r.chatId, from: r.from, state: r.state, ...(r.lastSeen !== null ? { lastSeen: r.lastSeen } : {}) };
        wrote = await this.d.messages.raise(session, [{ event: "presence.update", data }]);
        break;
      }
    }
    if (wrote) this.d.onWritten?.(session.id);
  }

  /** `chatId` null: the client asked (no webhook); else the sandbox reported it in that chat. */
  private async applyRevoke(session: SessionRow, id: string, chatId: string | null, by: string | null, announce: boolean): Promise<boolean> {
    const events = announce && chatId !== null ? [{ event: "message.revoked" as const, data: { id, chatId, by } }] : [];
    const done = await this.d.changes.revoke(session, id, chatId, events);
    if (!done) return false;
    if (done.file) await this.d.media.removeUnused([done.file]);
    return true;
  }

  private async stored(session: SessionRow, id: string, what: string): Promise<MessageRow> {
    ready(session, what);
    const m = await this.d.messages.byId(session.id, id);
    if (!m) throw sessionErrors.messageNotFound(id);
    return m;
  }

  /** The message's key as WhatsApp names it: in a group, its author by jid. */
  private target(m: MessageRow) {
    const author = !m.fromMe && m.chatId.endsWith("@g.us") && m.author ? (m.author.includes("@") ? m.author : `${m.author}@s.whatsapp.net`) : undefined;
    return { chatId: m.chatId, id: m.id, fromMe: m.fromMe, ...(author ? { participant: author } : {}) };
  }
}

function ready(session: SessionRow, what: string): void {
  if (session.state !== "ready") throw sessionErrors.wrongState(what, session.state, ["ready"]);
}
