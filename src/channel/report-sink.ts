// Where the channel hands what sandboxes send: the session domain implements this (sessions/
// reports.ts), so the channel knows nothing of sessions, and the domain nothing of sockets.
import type { Report } from "./frames";

export interface ReportSink {
  /**
   * Whether this launch of the session may use the channel now (the session exists, is live,
   * and `launchId` is its current launch). Asked at every connect and before every renewal.
   */
  admits(sessionId: string, launchId: string): Promise<boolean>;
  /** Stores a report of the sandbox of launch `launchId`; the sandbox gets its ack only after this resolves. */
  apply(sessionId: string, launchId: string, report: Report): Promise<void>;
  /** A sandbox is connected (again): work that waited for it may go. */
  connected?(sessionId: string): void;
  /** The bytes of an incoming message's file, downloaded and decrypted by the sandbox of `launchId`. */
  mediaIn?(sessionId: string, launchId: string, messageId: string, bytes: AsyncIterable<Uint8Array>): Promise<MediaInOutcome>;
  /** The bytes of a file the sandbox of `launchId` is to send with a message; null when there is none. */
  mediaOut?(sessionId: string, launchId: string, messageId: string): Promise<{ bytes: ReadableStream<Uint8Array> | Blob; size: number; mimetype: string } | null>;
  /** The session's mirrored auth state for the sandbox of `launchId` (it starts with an empty volume); null when that launch is not current. */
  authState?(sessionId: string, launchId: string): Promise<[name: string, value: string][] | null>;
}

/** stored (or already was); not-found: no such message yet (its report may still be on its way); refused: not this launch. */
export type MediaInOutcome = "stored" | "not-found" | "too-large" | "mismatch" | "refused";
