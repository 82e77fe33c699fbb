// A message as the API answers it and as the message.received webhook carries it: a media
// message adds its caption and its file's description with the API's own URL of the bytes
// (never the bytes); a location, contact cards or a poll add theirs; what happened to it since
// (reactions, an edit, a delete for everyone) shows once it happened. A plain text is as it
// always was.
import type { MessageRow } from "../db/schema";
import type { ContactCard, Location, Reaction, StoredPoll } from "../model/messages";

type Viewed = Pick<MessageRow, "id" | "chatId" | "fromMe" | "type" | "text" | "replyTo" | "status" | "timestamp" | "caption" | "media"> &
  Partial<Pick<MessageRow, "author" | "mentions" | "reactions" | "editedAt" | "revoked" | "location" | "contacts" | "poll">>;

/** Mentions as the API names members: a phone number for a phone-number jid, else the jid. */
const memberName = (jid: string) => /^([0-9]+)@s\.whatsapp\.net$/.exec(jid)?.[1] ?? jid;

/** Every option in order, each with its voters (none, too). */
export function pollView(p: StoredPoll) {
  return {
    question: p.question,
    options: p.options,
    multiple: p.multiple,
    votes: p.options.map((option) => ({ option, voters: Object.entries(p.votes).filter(([, chosen]) => chosen.includes(option)).map(([voter]) => voter) })),
  };
}

export function messageView(sessionId: string, m: Viewed) {
  const view: {
    id: string;
    chatId: string;
    fromMe: boolean;
    type: MessageRow["type"];
    text: string | null;
    replyTo: string | null;
    status: MessageRow["status"];
    timestamp: number;
    author?: string;
    mentions?: string[];
    location?: Location;
    contacts?: Omit<ContactCard, "vcard">[];
    poll?: ReturnType<typeof pollView>;
    reactions?: Reaction[];
    editedAt?: string;
    revoked?: true;
  } = { id: m.id, chatId: m.chatId, fromMe: m.fromMe, type: m.type, text: m.text, replyTo: m.replyTo, status: m.status, timestamp: m.timestamp };
  // Group messages only: who wrote it, and whom it mentions.
  if (m.author) view.author = m.author;
  if (m.mentions?.length) view.mentions = m.mentions.map(memberName);
  if (m.location) view.location = m.location;
  if (m.contacts) view.contacts = m.contacts.map(({ name, phoneNumber }) => ({ name, phoneNumber }));
  if (m.poll) view.poll = pollView(m.poll);
  if (m.reactions?.length) view.reactions = m.reactions;
  if (m.editedAt) view.editedAt = m.editedAt.toISOString();
  if (m.revoked) view.revoked = true;
  if (!m.media) return view;
  const { thumbnail: _thumbnail, storedAt: _storedAt, requested: _requested, ...media } = m.media;
  return { ...view, caption: m.caption, media: { ...media, url: `/sessions/${sessionId}/messages/${encodeURIComponent(m.id)}/media` } };
}
