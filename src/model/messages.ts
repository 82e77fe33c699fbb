// What a message is: its kinds and the statuses it moves through, in their order. One message
// model carries every kind; media, locations, contact cards, polls and reactions add kinds, not
// tables.

export const messageTypes = ["text", "image", "video", "audio", "voice", "document", "sticker", "location", "contact", "poll", "reaction"] as const;
export type MessageType = (typeof messageTypes)[number];

export const messageStatuses = ["pending", "sent", "delivered", "read", "failed"] as const;
export type MessageStatus = (typeof messageStatuses)[number];

/** A status only moves forward: pending -> sent -> delivered -> read; failed from pending or sent. */
const rank: Record<MessageStatus, number> = { pending: 0, sent: 1, delivered: 2, read: 3, failed: 1 };

/** The statuses a message may be in for `to` to be a step forward. */
export function statusesBefore(to: MessageStatus): MessageStatus[] {
  if (to === "failed") return ["pending", "sent"];
  return messageStatuses.filter((s) => s !== "failed" && rank[s] < rank[to]);
}

/** The kinds that carry a file. */
export const mediaTypes = ["image", "video", "audio", "voice", "document", "sticker"] as const;
export type MediaType = (typeof mediaTypes)[number];

export function isMediaType(type: string): type is MediaType {
  return (mediaTypes as readonly string[]).includes(type);
}

/** Where a message's file is: on its way, stored (servable), failed (with a reason), or removed by retention. */
export const mediaStates = ["pending", "stored", "failed", "expired"] as const;
export type MediaState = (typeof mediaStates)[number];

/** A message's file as stored with the message: what it is, and where it is. */
export interface StoredMedia {
  mimetype: string;
  size: number;
  /** Lowercase hex of the plain bytes. */
  sha256: string;
  fileName?: string;
  width?: number;
  height?: number;
  seconds?: number;
  state: MediaState;
  /** Why it failed. */
  reason?: string;
  /** A sent image's or video's JPEG preview (base64), handed to WhatsApp with it; never shown. */
  thumbnail?: string;
  /** When the file was stored (ISO): retention counts from here, so a file downloaded again is kept its days. Never shown. */
  storedAt?: string;
  /**
   * When a client asked for the file again (POST …/media/download, ISO): its outcome is that
   * call's answer, not a second message.received, and the stale sweep counts from here. Never shown.
   */
  requested?: string;
}

/** One sender's reaction to a message: `from` a phone number (or jid), or "me". */
export interface Reaction {
  from: string;
  emoji: string;
  /** Seconds since the epoch. */
  timestamp: number;
}

export interface Location {
  latitude: number;
  longitude: number;
  name?: string;
  address?: string;
}

export interface ContactCard {
  name: string;
  phoneNumber: string | null;
  /** The vCard a client gave raw, sent as it is; never shown. */
  vcard?: string;
}

/** A poll as stored: each voter's current choice, by voter (a phone number, a jid, or "me"). */
export interface StoredPoll {
  question: string;
  options: string[];
  multiple: boolean;
  votes: Record<string, string[]>;
}

/** WhatsApp lets a sender edit a message for 15 minutes. */
export const EDIT_WINDOW_SECONDS = 15 * 60;
