// Media files of messages: what the sandbox downloaded for an incoming message (stored only when
// its sha256 is the one the message named), what a client sends (stored before the message is
// handed over, its type taken from the bytes), and the bytes the media route and the sandbox
// read back. The files live in a MediaStore; the message row says which and in what state.
import { fileTypeFromBuffer } from "file-type";
import type { MessageRepository } from "../db/message-repository";
import type { MessageRow, SessionRow } from "../db/schema";
import type { Logger } from "../log";
import { createReadStream } from "node:fs";
import { ConversionUnavailable, Unreadable, type MediaPreparer } from "../media/prepare";
import { MediaTooLarge, type FileBody, type MediaStore, type StoredFile } from "../media/store";
import { mediaStates, type MediaType, type StoredMedia } from "../model/messages";
import type { SandboxLink } from "../channel/link";
import { askSandbox } from "./sandbox-calls";
import { SessionError, sessionErrors } from "./errors";
import { messageView } from "./message-view";

export interface MediaDeps {
  messages: MessageRepository;
  store: MediaStore;
  /** MEDIA_MAX_BYTES: the largest file sent or received. */
  maxBytes: number;
  /** Conversions, dimensions and thumbnails of files to send. */
  prepare: MediaPreparer;
  /** The sandbox, asked to download a file again. */
  link: SandboxLink;
  requestTimeoutMs: number;
  channelWaitMs: number;
  log: Logger;
  /** The session a stale file's message belongs to. */
  sessionOf: (sessionId: string) => Promise<SessionRow | null>;
  onWritten?: (sessionId: string) => void;
}

/** What became of a sandbox's upload of an incoming file. */
export type UploadOutcome = "stored" | "not-found" | "too-large" | "mismatch";

/** A file a client sends, before its message exists. */
export interface MediaUpload {
  type: MediaType;
  /** The bytes as they come (decoded base64, a URL's body, a form's file part). */
  bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** The same bytes already whole on disk and hashed (a form's file part): moved in, not copied. */
  onDisk?: { path: string; sha256: string; size: number };
  /** The field a refusal names (media, media.data, media.url, file). */
  field: string;
  /** The type the client declared. */
  mimetype?: string;
  /** The type a URL's server or a form part said: a document's type when the bytes do not tell. */
  servedAs?: string;
  fileName?: string;
}

/** Types a kind of message takes; the bytes must say one of these. */
const accepted: Record<MediaType, (mime: string) => boolean> = {
  image: (m) => m.startsWith("image/") && m !== "image/webp",
  video: (m) => m.startsWith("video/"),
  audio: (m) => m.startsWith("audio/"),
  voice: (m) => m === "audio/ogg; codecs=opus" || m === "audio/opus",
  document: () => true,
  sticker: (m) => m === "image/webp",
};

const baseType = (mime: string) => mime.split(";")[0]!.trim();

export class MediaFiles {
  constructor(private readonly d: MediaDeps) {}

  /** Stores a sandbox's download of an incoming message's file, if it is the file the message named. */
  async upload(session: SessionRow, messageId: string, bytes: AsyncIterable<Uint8Array>): Promise<UploadOutcome> {
    const m = await this.d.messages.byId(session.id, messageId);
    if (!m?.media) return "not-found";
    if (m.media.state === "stored") return "stored";
    let stored;
    try {
      // Never more than the message said, nor than the limit.
      stored = await this.d.store.put(bytes, Math.min(this.d.maxBytes, m.media.size));
    } catch (err) {
      if (!(err instanceof MediaTooLarge)) throw err;
      await this.failed(session, messageId, `the file is larger than the message said (${m.media.size} bytes) or than MEDIA_MAX_BYTES`);
      return "too-large";
    }
    if (stored.sha256 !== m.media.sha256 || stored.size !== m.media.size) {
      if (!(await this.d.messages.mediaInUse(stored.sha256))) await this.d.store.remove(stored.sha256);
      await this.failed(session, messageId, "the downloaded file's sha256 is not the one the message named");
      return "mismatch";
    }
    // A failure's reason goes with it (a retry may store what failed before).
    const { reason: _reason, requested, ...media } = m.media;
    await this.settle(session, messageId, { ...media, state: "stored", storedAt: new Date().toISOString() }, !requested);
    return "stored";
  }

  /** The file could not be had: the message is announced with its media `failed` (unless a client's download asked). */
  async failed(session: SessionRow, messageId: string, reason: string): Promise<void> {
    const m = await this.d.messages.byId(session.id, messageId);
    if (!m?.media) return;
    const { requested, ...media } = m.media;
    await this.settle(session, messageId, { ...media, state: "failed", reason }, !requested);
  }

  /**
   * POST …/media/download: the sandbox downloads the file again (the keys are there, never here;
   * expired at WhatsApp, it asks the sender's phone to upload it again) and hands it over. Answers
   * the message once its file is stored or failed, or after SANDBOX_REQUEST_TIMEOUT_MS with it
   * still pending; the outcome is this answer, not another message.received.
   */
  async download(session: SessionRow, messageId: string): Promise<MessageRow> {
    const m = await this.d.messages.byId(session.id, messageId);
    if (!m) throw sessionErrors.messageNotFound(messageId);
    if (!m.media) throw new SessionError("MEDIA_NOT_FOUND", "The message has no file", { state: null });
    if (m.media.state === "stored" && this.d.store.size(m.media.sha256) !== null) return m;
    if (m.media.size > this.d.maxBytes) throw sessionErrors.mediaTooLarge(this.d.maxBytes);
    if (session.state !== "ready") throw sessionErrors.wrongState("download a file", session.state, ["ready"]);
    // A file still on its way was never announced: it keeps its announcement when it comes.
    const { reason: _reason, ...rest } = m.media;
    const requested = m.media.state === "pending" ? m.media.requested : new Date().toISOString();
    await this.d.messages.setMedia(session, messageId, { ...rest, state: "pending", ...(requested ? { requested } : {}) }, [...mediaStates]);
    let result;
    try {
      result = await askSandbox(this.d, session.id, { type: "download", id: messageId });
    } catch (err) {
      const code = err instanceof SessionError ? err.code : null;
      if (code === "SANDBOX_TIMEOUT") return this.current(session, m); // still on its way
      // Not asked at all (the sandbox is away), or it has no key for the file: as it was.
      await this.d.messages.setMedia(session, messageId, m.media, ["pending"]);
      if (code === "SANDBOX_ERROR" && (err as SessionError).details.sandboxCode === "MEDIA_UNKNOWN") {
        throw new SessionError("MEDIA_NOT_FOUND", "The session has no key to download this file again (a file sent from here, or received before keys were kept)", { state: m.media.state });
      }
      throw err;
    }
    // Refused by the API itself (a wrong hash, too large), the file is failed already, with the better reason.
    const now = await this.current(session, m);
    if (result.stored || now.media?.state !== "pending") return now;
    await this.failed(session, messageId, result.reason);
    return this.current(session, m);
  }

  private async current(session: SessionRow, m: MessageRow): Promise<MessageRow> {
    return (await this.d.messages.byId(session.id, m.id)) ?? m;
  }

  /** A stored file of a message of this session, for the media route (or the sandbox sending it). */
  async file(session: SessionRow, messageId: string): Promise<{ message: MessageRow; media: StoredMedia; size: number }> {
    const message = await this.d.messages.byId(session.id, messageId);
    if (!message) throw sessionErrors.messageNotFound(messageId);
    const media = message.media;
    const size = media?.state === "stored" ? this.d.store.size(media.sha256) : null;
    if (!media || size === null) {
      throw new SessionError("MEDIA_NOT_FOUND", media ? `The message's file is ${media.state === "stored" ? "gone" : media.state}` : "The message has no file", {
        state: media?.state ?? null,
      });
    }
    return { message, media, size };
  }

  /** The files the session's messages carry (to remove those no other message carries once it is deleted). */
  filesOf(sessionId: string): Promise<string[]> {
    return this.d.messages.mediaOf(sessionId);
  }

  /** Files still on their way since before `before` never came (the sandbox stopped or gave up): failed, and announced. */
  async failStale(before: Date): Promise<number> {
    const stale = await this.d.messages.stalePending(before, 500);
    for (const { sessionId, id } of stale) {
      const session = await this.d.sessionOf(sessionId);
      if (session) await this.failed(session, id, "the file was not delivered by the session's sandbox");
    }
    return stale.length;
  }

  /** MEDIA_KEEP_DAYS: files of messages older than `before` are removed and their media `expired`; how many files went. */
  async expire(before: Date): Promise<number> {
    const files = await this.d.messages.expireMedia(before);
    await this.removeUnused(files);
    if (files.length > 0) this.d.log.info("old media removed", { files: files.length });
    return files.length;
  }

  async removeUnused(files: string[]): Promise<void> {
    for (const sha256 of files) {
      if (!(await this.d.messages.mediaInUse(sha256))) await this.d.store.remove(sha256);
    }
  }

  read(sha256: string, start?: number, end?: number): FileBody {
    return this.d.store.read(sha256, start, end);
  }

  /**
   * Stores a file a client sends, streamed (stopped past MEDIA_MAX_BYTES), and says what it is:
   * its type from the bytes (a declared one they contradict is refused), converted where its kind
   * needs another format, with its dimensions, length and thumbnail. A refused file is not kept.
   */
  async accept(upload: MediaUpload): Promise<StoredMedia> {
    let stored = upload.onDisk && upload.onDisk.size <= this.d.maxBytes ? await this.adopt(upload.onDisk) : await this.put(upload.bytes);
    try {
      if (stored.size === 0) throw sessionErrors.invalidField(upload.field, "the file is empty");
      const head = new Uint8Array(await new Response(this.d.store.read(stored.sha256, 0, 4099)).arrayBuffer());
      const sniffed = (await fileTypeFromBuffer(head))?.mime;
      const declared = upload.mimetype?.trim().toLowerCase();
      if (declared && sniffed && baseType(declared) !== baseType(sniffed)) {
        throw new SessionError("MEDIA_TYPE_MISMATCH", `The file is ${sniffed}, not ${declared}`, { declared, detected: sniffed });
      }
      const { type } = upload;
      // What the bytes say, with its parameters (audio/ogg; codecs=opus); else what the client (or the server of a URL) said.
      let mimetype = sniffed ?? declared ?? (type === "document" ? (upload.servedAs ?? "application/octet-stream") : undefined);
      // Only a document may be of a type the bytes do not tell.
      if (!mimetype || (type !== "document" && !sniffed)) throw sessionErrors.invalidField(upload.field, `the file is not a readable ${type}`);
      const converted = await this.convert(type, mimetype, stored, upload.field);
      if (converted) {
        await this.removeUnused([stored.sha256]);
        ({ stored, mimetype } = converted);
      }
      const checked = type === "voice" ? mimetype : baseType(mimetype);
      if (!accepted[type](checked)) throw sessionErrors.invalidField(upload.field, `a ${type} cannot be ${mimetype}`);
      const described = await this.d.prepare.describe(type, this.d.store.localPath(stored.sha256)).catch((err) => {
        if (err instanceof Unreadable) throw sessionErrors.invalidField(upload.field, err.message);
        throw err;
      });
      return { mimetype, size: stored.size, sha256: stored.sha256, ...(upload.fileName ? { fileName: upload.fileName } : {}), ...described, state: "stored" };
    } catch (err) {
      await this.removeUnused([stored.sha256]);
      throw err;
    }
  }

  private async adopt(file: { path: string; sha256: string; size: number }): Promise<StoredFile> {
    const stored = { sha256: file.sha256, size: file.size };
    await this.d.store.adopt(file.path, stored);
    return stored;
  }

  private async put(bytes: MediaUpload["bytes"]) {
    try {
      return await this.d.store.put(bytes, this.d.maxBytes);
    } catch (err) {
      if (err instanceof MediaTooLarge) throw sessionErrors.mediaTooLarge(this.d.maxBytes);
      throw err;
    }
  }

  /** A voice note that is not Ogg Opus, or a sticker that is not WebP, in the format its kind needs. */
  private async convert(type: MediaType, mimetype: string, stored: StoredFile, field: string): Promise<{ stored: StoredFile; mimetype: string } | null> {
    const input = this.d.store.localPath(stored.sha256);
    try {
      if (type === "voice" && !accepted.voice(mimetype)) {
        if (!/^(audio|video)\//.test(mimetype)) return null; // refused by the kind's check
        const out = await this.d.prepare.toVoice(input);
        try {
          return { stored: await this.put(createReadStream(out.path)), mimetype: "audio/ogg; codecs=opus" };
        } finally {
          await out.remove();
        }
      }
      if (type === "sticker" && baseType(mimetype) !== "image/webp" && baseType(mimetype).startsWith("image/")) {
        return { stored: await this.put([await this.d.prepare.toSticker(input)]), mimetype: "image/webp" };
      }
    } catch (err) {
      if (err instanceof ConversionUnavailable) throw new SessionError("MEDIA_CONVERSION_UNAVAILABLE", err.message);
      if (err instanceof Unreadable) throw sessionErrors.invalidField(field, err.message);
      throw err;
    }
    return null;
  }

  /** Moves the file on from `pending` (or a failure, for a retry) and announces the message with it, unless it was announced before. */
  private async settle(session: SessionRow, messageId: string, media: StoredMedia, announce: boolean): Promise<void> {
    const events = (r: MessageRow) => (announce ? [{ event: "message.received" as const, data: messageView(session.id, r) }] : []);
    const row = await this.d.messages.setMedia(session, messageId, media, ["pending", "failed"], events);
    if (row) this.d.onWritten?.(session.id);
  }
}
