// The control API's conversation kinds: a contact (or group member) reacts, edits, revokes, shares
// a location or contacts, makes a poll, votes, or shows presence, as its phone would. Targets are
// named by id and looked up in the chat log, so the key goes out from the sender's point of view.
import type { proto } from "@whiskeysockets/baileys";
import { randomBytes } from "node:crypto";
import { directChat, type LoggedMessage } from "./chat-log";
import { fail, phoneNumber } from "./control-input";
import {
  contactsMessage,
  editMessage,
  locationMessage,
  pollMessage,
  pollVoteMessage,
  reactionMessage,
  revokeMessage,
  targetKey,
  type Location,
  type SharedContact,
} from "./conversation";
import { sendToGroup } from "./group-messages";
import { isAdmin, type Group } from "./groups";
import type { EmulatorLog } from "./log";
import { sendFromContact } from "./messages";
import { encryptPollVote } from "./poll-crypto";
import { PRESENCE_STATES, sendChatState, setAvailability, type ChatState } from "./presence";
import type { EmulatorState } from "./state";

export const CONVERSATION_TYPES = ["reaction", "edit", "revoke", "location", "contact", "poll", "poll_vote", "presence"] as const;

export const isConversational = (type: unknown): boolean => (CONVERSATION_TYPES as readonly unknown[]).includes(type);

/** Where the sender writes: its 1:1 chat with an account, or a group it is a member of. */
export type Chat = { from: string; to: string } | { from: string; group: Group };

const MAX_TEXT = 65536;
/** How long a call naming a device's message waits for it to arrive and be decrypted. */
const TARGET_WAIT_MS = 1000;
const str = (v: unknown, max: number) => typeof v === "string" && v.length > 0 && v.length <= max;

function text(v: unknown): string {
  if (!str(v, MAX_TEXT)) fail(400, "INVALID_TEXT", `text must be a string of 1 to ${MAX_TEXT} characters`);
  return v as string;
}

function location(v: unknown): Location {
  const l = (v ?? {}) as Record<string, unknown>;
  const num = (x: unknown, lim: number) => typeof x === "number" && Number.isFinite(x) && Math.abs(x) <= lim;
  if (typeof v !== "object" || !num(l.latitude, 90) || !num(l.longitude, 180)) fail(400, "INVALID_LOCATION", "location must be {latitude: -90..90, longitude: -180..180, name?, address?}");
  for (const k of ["name", "address"] as const) if (l[k] !== undefined && !str(l[k], 1024)) fail(400, "INVALID_LOCATION", `location.${k} must be a string of 1 to 1024 characters`);
  return { latitude: l.latitude as number, longitude: l.longitude as number, ...(l.name ? { name: l.name as string } : {}), ...(l.address ? { address: l.address as string } : {}) };
}

function contacts(v: unknown): SharedContact[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 100) fail(400, "INVALID_CONTACTS", "contacts must be an array of 1 to 100 {name, phoneNumber}");
  return (v as Record<string, unknown>[]).map((c, i) => {
    if (!c || !str(c.name, 256)) fail(400, "INVALID_CONTACTS", `contacts[${i}].name must be a string of 1 to 256 characters`);
    return { name: c.name as string, phoneNumber: phoneNumber(c.phoneNumber, `contacts[${i}].phoneNumber`) };
  });
}

function poll(v: unknown): { question: string; options: string[]; multiple: boolean } {
  const p = (v ?? {}) as Record<string, unknown>;
  if (typeof v !== "object" || !str(p.question, 255)) fail(400, "INVALID_POLL", "poll.question must be a string of 1 to 255 characters");
  const options = p.options;
  if (!Array.isArray(options) || options.length < 2 || options.length > 12 || !options.every((o) => str(o, 100)) || new Set(options).size !== options.length) {
    fail(400, "INVALID_POLL", "poll.options must be 2 to 12 different strings of 1 to 100 characters");
  }
  if (p.multiple !== undefined && typeof p.multiple !== "boolean") fail(400, "INVALID_POLL", "poll.multiple must be true or false");
  return { question: p.question as string, options: options as string[], multiple: p.multiple === true };
}

/** Sends one of CONVERSATION_TYPES from a contact; answers `{id}`, or `{success: true}` for presence (no message). */
export async function sendConversational(state: EmulatorState, log: EmulatorLog, b: Record<string, unknown>, where: Chat): Promise<{ id: string } | { success: true }> {
  const group = "group" in where ? where.group : undefined;
  const chat = group ? group.jid : directChat(where.from, (where as { to: string }).to);
  const send = (message: proto.IMessage) =>
    group ? sendToGroup(state, log, group, where.from, message) : sendFromContact(state, log, where.from, (where as { to: string }).to, message);
  // The sender's phone clock, shifted like the server's so a test's clock stays one clock.
  const ms = () => Date.now() + state.clockOffset * 1000;

  const target = async (): Promise<LoggedMessage> => {
    if (!str(b.targetId, 128)) fail(400, "INVALID_TARGET", "targetId must be the id of a message in this chat");
    const found = await state.chats.wait(chat, b.targetId as string, TARGET_WAIT_MS);
    return found ?? fail(404, "UNKNOWN_MESSAGE", `no message ${b.targetId} in this chat (the emulator knows what it sent and what its contacts received)`);
  };
  // The target's key as the sender writes it: fromMe when it wrote the target; in a group the author's LID otherwise.
  const keyOf = (t: LoggedMessage) =>
    group
      ? targetKey({ chat: group.jid, id: t.id, fromMe: t.author === where.from, participant: `${state.lid(t.author)}@lid` })
      : targetKey({ chat: `${(where as { to: string }).to}@s.whatsapp.net`, id: t.id, fromMe: t.author === where.from });

  switch (b.type) {
    case "reaction": {
      const t = await target();
      if (typeof b.emoji !== "string" || b.emoji.length > 64) fail(400, "INVALID_EMOJI", 'emoji must be a string ("" takes the reaction back)');
      return { id: await send(reactionMessage(keyOf(t), b.emoji as string, ms())) };
    }
    case "edit": {
      const t = await target();
      const newText = text(b.text);
      if (t.author !== where.from) fail(403, "NOT_MESSAGE_AUTHOR", "only the author edits a message");
      if (t.kind !== "text" || t.revoked) fail(400, "NOT_EDITABLE", "only a text message that was not deleted can be edited");
      return { id: await send(editMessage(keyOf(t), newText, ms())) };
    }
    case "revoke": {
      const t = await target();
      if (t.author !== where.from) {
        if (!group) fail(403, "NOT_MESSAGE_AUTHOR", "only the author deletes a message for everyone in a 1:1 chat");
        if (!isAdmin(group!.members.get(where.from))) fail(403, "NOT_GROUP_ADMIN", "only the author or a group admin deletes a message for everyone");
      }
      t.revoked = true;
      return { id: await send(revokeMessage(keyOf(t))) };
    }
    case "location":
      return { id: await send(locationMessage(location(b.location))) };
    case "contact":
      return { id: await send(contactsMessage(contacts(b.contacts))) };
    case "poll":
      return { id: await send(pollMessage(poll(b.poll), randomBytes(32))) };
    case "poll_vote": {
      const t = await target();
      if (!t.poll) fail(400, "NOT_A_POLL", "targetId is no poll whose secret the emulator knows");
      const p = t.poll!;
      const chosen = b.options;
      if (!Array.isArray(chosen) || !chosen.every((o) => typeof o === "string" && p.options.includes(o))) fail(400, "INVALID_OPTIONS", `options must name options of the poll: ${p.options.join(", ")}`);
      const options = [...new Set(chosen as string[])];
      if (!p.multiple && options.length > 1) fail(400, "INVALID_OPTIONS", "this poll takes one option");
      // The vote's key derives from the poll's author and the voter in the chat's addressing: LID in LID groups, PN in 1:1 chats here.
      const jid = (n: string) => (group ? `${state.lid(n)}@lid` : `${n}@s.whatsapp.net`);
      const vote = encryptPollVote(options, p.secret, { pollId: t.id, creatorJid: jid(t.author), voterJid: jid(where.from) });
      return { id: await send(pollVoteMessage(keyOf(t), vote, ms())) };
    }
    case "presence": {
      const s = b.state as (typeof PRESENCE_STATES)[number];
      if (!PRESENCE_STATES.includes(s)) fail(400, "INVALID_STATE", `state must be one of ${PRESENCE_STATES.join(", ")}`);
      if (s === "available" || s === "unavailable") setAvailability(state, log, where.from, s);
      else sendChatState(state, log, where.from, group ? { group } : { to: (where as { to: string }).to }, s as ChatState);
      return { success: true };
    }
  }
  return fail(400, "INVALID_TYPE", `type must be text, a media type or one of ${CONVERSATION_TYPES.join(", ")}`);
}
