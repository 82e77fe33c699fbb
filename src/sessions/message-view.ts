// A message as the API answers it and as the message.received webhook carries it: a media
// message adds its caption and its file's description with the API's own URL of the bytes
// (never the bytes); a text message is as it always was.
import type { MessageRow } from "../db/schema";

export function messageView(sessionId: string, m: Pick<MessageRow, "id" | "chatId" | "fromMe" | "type" | "text" | "replyTo" | "status" | "timestamp" | "caption" | "media">) {
  const view = { id: m.id, chatId: m.chatId, fromMe: m.fromMe, type: m.type, text: m.text, replyTo: m.replyTo, status: m.status, timestamp: m.timestamp };
  if (!m.media) return view;
  const { thumbnail: _thumbnail, storedAt: _storedAt, requested: _requested, ...media } = m.media;
  return { ...view, caption: m.caption, media: { ...media, url: `/sessions/${sessionId}/messages/${encodeURIComponent(m.id)}/media` } };
}
