// A message as the API answers it and as the message.received webhook carries it: a media
// message adds its caption and its file's description with the API's own URL of the bytes
// (never the bytes); a text message is as it always was.
import type { MessageRow } from "../db/schema";

type Viewed = Pick<MessageRow, "id" | "chatId" | "fromMe" | "type" | "text" | "replyTo" | "status" | "timestamp" | "caption" | "media"> &
  Partial<Pick<MessageRow, "author" | "mentions">>;

/** Mentions as the API names members: a phone number for a phone-number jid, else the jid. */
const memberName = (jid: string) => /^([0-9]+)@s\.whatsapp\.net$/.exec(jid)?.[1] ?? jid;

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
  } = { id: m.id, chatId: m.chatId, fromMe: m.fromMe, type: m.type, text: m.text, replyTo: m.replyTo, status: m.status, timestamp: m.timestamp };
  // Group messages only: who wrote it, and whom it mentions.
  if (m.author) view.author = m.author;
  if (m.mentions?.length) view.mentions = m.mentions.map(memberName);
  if (!m.media) return view;
  const { thumbnail: _thumbnail, storedAt: _storedAt, requested: _requested, ...media } = m.media;
  return { ...view, caption: m.caption, media: { ...media, url: `/sessions/${sessionId}/messages/${encodeURIComponent(m.id)}/media` } };
}
