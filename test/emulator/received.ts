// What a contact's phone makes of a message a linked device sent it (1:1 or in a group), once
// decrypted: a text, a media file it downloads and checks, or one of the conversation kinds
// (conversation.ts), each kept once per id under `received` for the control API. Messages that a
// later reaction, edit, revoke or vote may name go into the chat log; a poll's secret with them.
import type { proto } from "@whiskeysockets/baileys";
import type { LoggedMessage } from "./chat-log";
import { messageText, type SignalParty } from "./contacts";
import { loggable, readConversational, type Location, type PollSpec, type SharedContact } from "./conversation";
import type { EmulatorLog } from "./log";
import { receiveMedia } from "./media";
import { openPollVote, optionHash } from "./poll-crypto";
import type { EmulatorState } from "./state";

export interface ReceivedBase {
  id: string;
  /** The sending account's number. */
  from: string;
  /** The group's JID, for a group message. */
  groupId?: string;
}

/** The conversation kinds as the control API lists them (with `timestamp`, seconds, last). */
export type ReceivedConversational = ReceivedBase &
  (
    | { type: "reaction"; targetId: string; emoji: string }
    | { type: "edit"; targetId: string; text: string }
    | { type: "revoke"; targetId: string }
    | { type: "location"; location: Location }
    | { type: "contact"; contacts: SharedContact[] }
    | { type: "poll"; poll: PollSpec }
    | { type: "poll_vote"; targetId: string; options: string[] }
  ) & { timestamp: number };

export interface RecordContext {
  /** The chat's key in the chat log: the group's JID, or directChat(account, contact). */
  chat: string;
  /** The chat's addressing: the JIDs a poll vote's key is derived from (PN in 1:1 chats, LID in LID groups). */
  addressing: "pn" | "lid";
  /** The sender is a group admin: it may revoke other members' messages. */
  senderIsAdmin?: boolean;
}

/** Keeps what a party decrypted from a linked device, once per id (and group). */
export async function recordFromDevice(
  state: EmulatorState,
  log: EmulatorLog,
  p: SignalParty,
  base: ReceivedBase & { timestamp: number },
  m: proto.IMessage,
  ctx: RecordContext,
): Promise<void> {
  const known = () => p.received.some((r) => "id" in r && r.id === base.id && r.groupId === base.groupId);
  if (known()) return;
  const head = { id: base.id, from: base.from, ...(base.groupId ? { groupId: base.groupId } : {}) };
  const logged = loggable(m);
  if (logged) state.chats.remember(ctx.chat, { id: base.id, author: base.from, ...logged });

  const conv = readConversational(m);
  let body: Record<string, unknown> | undefined;
  if (conv) {
    switch (conv.type) {
      case "reaction":
        body = { type: "reaction", targetId: conv.targetId, emoji: conv.emoji };
        break;
      case "edit":
        body = { type: "edit", targetId: conv.targetId, text: conv.text };
        break;
      case "revoke": {
        // Only the author deletes for everyone, or a group admin (the key then names the author as participant).
        if (!conv.key.fromMe && !ctx.senderIsAdmin) {
          log.warn("revoke of someone else's message by a non-admin ignored", { id: base.id, from: base.from, target: conv.targetId, group: base.groupId });
          return;
        }
        const target = state.chats.find(ctx.chat, conv.targetId);
        if (target) target.revoked = true;
        body = { type: "revoke", targetId: conv.targetId };
        break;
      }
      case "location":
        body = { type: "location", location: conv.location };
        break;
      case "contact":
        body = { type: "contact", contacts: conv.contacts };
        break;
      case "poll":
        if (!conv.secret) log.warn("poll without messageContextInfo.messageSecret: its votes cannot be read", { id: base.id, from: base.from });
        body = { type: "poll", poll: conv.poll };
        break;
      case "poll_vote": {
        const options = openVote(state, ctx, state.chats.find(ctx.chat, conv.targetId), base.from, conv);
        if (!options) {
          log.warn("contact could not open a poll vote", { id: base.id, from: base.from, poll: conv.targetId, group: base.groupId });
          return;
        }
        body = { type: "poll_vote", targetId: conv.targetId, options };
        break;
      }
    }
  } else {
    const text = messageText(m);
    if (text !== undefined) {
      const mentions = (m.extendedTextMessage ?? m.deviceSentMessage?.message?.extendedTextMessage)?.contextInfo?.mentionedJid;
      body = { text, ...(mentions?.length ? { mentions: [...mentions] } : {}) };
    } else {
      // A media message: the contact fetches the file from the media server before it answers, as a phone auto-downloads.
      const media = await receiveMedia(state.media, m, log);
      if (media) body = { ...media };
    }
  }
  if (body && !known()) p.received.push({ ...head, ...body, timestamp: base.timestamp } as never);
}

/** The names of the options a vote chose, read with the poll's secret; undefined if the poll is unknown or the vote does not open. */
function openVote(
  state: EmulatorState,
  ctx: RecordContext,
  poll: LoggedMessage | undefined,
  voter: string,
  conv: { targetId: string; vote: proto.Message.IPollEncValue },
): string[] | undefined {
  if (!poll?.poll) return undefined;
  const jid = (n: string, a: "pn" | "lid") => (a === "lid" ? `${state.lid(n)}@lid` : `${n}@s.whatsapp.net`);
  const order: ("pn" | "lid")[] = ctx.addressing === "lid" ? ["lid", "pn"] : ["pn", "lid"];
  const pairs = order.flatMap((c) => order.map((v) => ({ creatorJid: jid(poll.author, c), voterJid: jid(voter, v) })));
  const hashes = openPollVote(conv.vote, poll.poll.secret, conv.targetId, pairs);
  if (!hashes) return undefined;
  return hashes.map((h) => poll.poll!.options.find((o) => optionHash(o).equals(h)) ?? `sha256:${h.toString("hex")}`);
}
