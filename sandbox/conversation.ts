// The rest of a conversation, both ways: reactions, edits and deletes of stored messages, poll
// votes (decrypted here with the poll's kept secret), and presence. What comes in becomes a
// report; what the API asks goes out through Baileys' own message kinds.
import { decryptPollVote, jidDecode, jidNormalizedUser, proto, toNumber, type WAMessage, type WAMessageKey, type WASocket } from "@whiskeysockets/baileys";
import { createHash } from "node:crypto";
import { clip, MAX_EMOJI_LENGTH, MAX_TEXT_LENGTH, type Report, type SandboxRequest } from "../src/channel/frames";
import type { SandboxLog } from "./log";
import type { NameOf } from "./messages-recv";
import type { PollSecrets } from "./poll-secrets";

type Presence = Extract<Report, { type: "presence" }>["state"];
const PRESENCES = new Set<Presence>(["available", "unavailable", "composing", "recording", "paused"]);
const now = () => Math.floor(Date.now() / 1000);
const MESSAGE_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** The text of an edited message: a text's, or a caption's. */
function editedText(m: proto.IMessage | null | undefined): string | null {
  if (!m) return null;
  const inner = m.protocolMessage?.editedMessage ?? m;
  const t =
    inner.conversation ??
    inner.extendedTextMessage?.text ??
    inner.imageMessage?.caption ??
    inner.videoMessage?.caption ??
    inner.documentMessage?.caption ??
    inner.documentWithCaptionMessage?.message?.documentMessage?.caption;
  return typeof t === "string" ? clip(t.replace(/\u0000/g, ""), MAX_TEXT_LENGTH) : null;
}

export class Conversation {
  constructor(
    private readonly report: (r: Report) => void,
    private readonly polls: PollSecrets,
    private readonly nameOf: NameOf,
    private readonly log: SandboxLog,
  ) {}

  /** Wires a new socket's events about stored messages and presence. */
  attach(sock: WASocket): void {
    sock.ev.on("messages.reaction", (list) => {
      for (const { key, reaction } of list) {
        if (!key.id || !key.remoteJid || !MESSAGE_ID.test(key.id)) continue;
        const by = reaction.key;
        // Baileys writes an absent participant as "": the chat names the sender then.
        const from = by?.fromMe ? "me" : this.nameOf(by?.participant || by?.remoteJid || key.remoteJid);
        const ms = reaction.senderTimestampMs ? toNumber(reaction.senderTimestampMs as number) : 0;
        this.report({ type: "reaction", id: key.id, chatId: key.remoteJid, from, emoji: clip(reaction.text ?? "", MAX_EMOJI_LENGTH), timestamp: ms ? Math.floor(ms / 1000) : now() });
      }
    });
    sock.ev.on("messages.update", (updates) => {
      for (const { key, update } of updates) {
        if (!key.id || !key.remoteJid || !MESSAGE_ID.test(key.id)) continue;
        const edited = update.message?.editedMessage?.message;
        if (edited) {
          const text = editedText(edited);
          const ts = update.messageTimestamp ? toNumber(update.messageTimestamp as number) : now();
          if (text !== null) this.report({ type: "edited", id: key.id, chatId: key.remoteJid, text, timestamp: ts });
        } else if (update.message === null && update.messageStubType === proto.WebMessageInfo.StubType.REVOKE) {
          const by = (update.key as WAMessageKey | undefined) ?? key;
          this.report({ type: "revoked", id: key.id, chatId: key.remoteJid, by: by.fromMe ? "me" : this.nameOf(by.participant || by.remoteJid || key.remoteJid) });
        }
      }
    });
    sock.ev.on("messages.upsert", ({ messages }) => {
      for (const m of messages) {
        if (m.message?.pollUpdateMessage) this.vote(sock, m);
        else this.keepPoll(sock, m);
      }
    });
    sock.ev.on("presence.update", ({ id, presences }) => {
      for (const [who, p] of Object.entries(presences)) {
        const state = p.lastKnownPresence as Presence;
        if (!PRESENCES.has(state)) continue;
        this.report({
          type: "presence",
          chatId: id,
          from: this.nameOf(who),
          state,
          lastSeen: typeof p.lastSeen === "number" && Number.isSafeInteger(p.lastSeen) && p.lastSeen >= 0 ? p.lastSeen : null,
        });
      }
    });
  }

  /** A poll we sent: its secret is kept for the votes to come. */
  pollSent(sock: WASocket, sent: WAMessage | undefined): void {
    if (sent) this.keepPoll(sock, sent);
  }

  async handle(sock: WASocket, req: Extract<SandboxRequest, { type: "react" | "edit" | "revoke" | "presence" | "presence-subscribe" }>): Promise<object> {
    switch (req.type) {
      case "react":
        await sock.sendMessage(req.target.chatId, { react: { text: req.emoji, key: keyOf(req.target) } });
        return {};
      case "edit":
        // A caption is edited the way a text is: WhatsApp shows the new text as the caption.
        await sock.sendMessage(req.target.chatId, { text: req.text, edit: keyOf(req.target) });
        return {};
      case "revoke":
        await sock.sendMessage(req.target.chatId, { delete: keyOf(req.target) });
        return {};
      case "presence":
        await sock.sendPresenceUpdate(req.state, req.chatId);
        return {};
      case "presence-subscribe":
        await sock.presenceSubscribe(req.chatId);
        return {};
    }
  }

  private keepPoll(sock: WASocket, m: WAMessage): void {
    const c = m.message;
    const poll = c?.pollCreationMessage ?? c?.pollCreationMessageV2 ?? c?.pollCreationMessageV3;
    const secret = c?.messageContextInfo?.messageSecret;
    if (!poll || !secret || !m.key.id || !m.key.remoteJid) return;
    const creator = m.key.fromMe ? jidNormalizedUser(sock.user?.id) : jidNormalizedUser(m.key.participant || m.key.remoteJid || "");
    this.polls.add({ id: m.key.id, secret: Buffer.from(secret).toString("base64"), creator, options: (poll.options ?? []).map((o) => o.optionName ?? "") });
  }

  /** A vote: decrypted with its poll's secret, its options named, reported as the voter's choice now. */
  private vote(sock: WASocket, m: WAMessage): void {
    const update = m.message!.pollUpdateMessage!;
    const pollKey = update.pollCreationMessageKey;
    const poll = pollKey?.id ? this.polls.get(pollKey.id) : null;
    if (!poll || !update.vote?.encPayload || !update.vote.encIv || !m.key.remoteJid) {
      this.log.warn("poll vote for a poll this session does not know", { pollId: pollKey?.id });
      return;
    }
    const me = [sock.user?.id, sock.user?.lid].filter((j): j is string => !!j).map(jidNormalizedUser);
    const voters = m.key.fromMe ? me : [m.key.participant, (m.key as { participantAlt?: string }).participantAlt, m.key.remoteJid].filter((j): j is string => !!j && !j.endsWith("@g.us")).map(jidNormalizedUser);
    const creators = poll.creator && me.includes(poll.creator) ? me : [poll.creator];
    // WhatsApp names creator and voter by the jids of the chat's addressing: try each pair it may have used.
    for (const creator of creators) {
      for (const voter of voters) {
        let chosen: proto.Message.PollVoteMessage;
        try {
          chosen = decryptPollVote(
            { encPayload: update.vote.encPayload, encIv: update.vote.encIv },
            { pollCreatorJid: creator, pollMsgId: poll.id, pollEncKey: Buffer.from(poll.secret, "base64"), voterJid: voter },
          );
        } catch {
          continue;
        }
        const byHash = new Map(poll.options.map((o) => [createHash("sha256").update(o).digest("hex"), o]));
        const options = (chosen.selectedOptions ?? []).map((h) => byHash.get(Buffer.from(h).toString("hex"))).filter((o): o is string => o !== undefined);
        const ms = update.senderTimestampMs ? toNumber(update.senderTimestampMs as number) : 0;
        this.report({
          type: "poll_vote",
          id: poll.id,
          chatId: m.key.remoteJid,
          voter: m.key.fromMe ? "me" : this.nameOf(voters[0]!),
          options,
          timestamp: ms ? Math.floor(ms / 1000) : now(),
        });
        return;
      }
    }
    this.log.warn("poll vote could not be decrypted", { pollId: poll.id });
  }
}

/** A stored message's key as WhatsApp names it. */
function keyOf(t: { chatId: string; id: string; fromMe: boolean; participant?: string }): WAMessageKey {
  return { remoteJid: t.chatId, id: t.id, fromMe: t.fromMe, ...(t.participant && jidDecode(t.participant) ? { participant: t.participant } : {}) };
}
