// Media messages as WhatsApp clients make and read them. A sender encrypts the file under a fresh
// 32-byte media key (HKDF-expanded with "WhatsApp <Type> Keys" into IV, AES-256-CBC key and MAC
// key; ciphertext followed by the first 10 bytes of HMAC-SHA256(iv || ciphertext)), uploads the
// ciphertext and sends the keys and hashes inside the Signal-encrypted message. The encryption is
// Baileys' own (encryptedStream); a receiving contact downloads from the media server and checks
// everything a real client checks before it believes the bytes.
import {
  encryptedStream,
  extractImageThumb,
  getAudioDuration,
  getMediaKeys,
  MEDIA_PATH_MAP,
  normalizeMessageContent,
  type MediaType,
  type proto,
} from "@whiskeysockets/baileys";
import { createDecipheriv, createHash, createHmac, timingSafeEqual } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import type { EmulatorLog } from "./log";
import type { MediaServer } from "./media-server";

export const MEDIA_KINDS = ["image", "video", "audio", "voice", "document", "sticker"] as const;
/** The API's names for media messages; `voice` is an audioMessage with ptt. */
export type MediaKind = (typeof MEDIA_KINDS)[number];

/** What Baileys calls each kind: it picks the HKDF info ("WhatsApp Audio Keys" for voice notes too) and the upload path. */
const MEDIA_TYPE: Record<MediaKind, MediaType> = { image: "image", video: "video", audio: "audio", voice: "audio", document: "document", sticker: "sticker" };

export interface MediaInfo {
  mimetype: string;
  /** Of the plaintext, as downloaded, checked and decrypted. */
  size?: number;
  /** Lowercase hex sha256 of the plaintext. */
  sha256?: string;
  fileName?: string;
  seconds?: number;
  width?: number;
  height?: number;
  /** Byte length of the message's jpegThumbnail. */
  thumbnailSize?: number;
  /** Why the file could not be had (gone from the server, or it failed a check); size and sha256 are then absent. */
  error?: string;
}

export interface ReceivedMedia {
  type: MediaKind;
  caption?: string;
  media: MediaInfo;
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest();
const now = () => Math.floor(Date.now() / 1000);

/** Encrypts a file as WhatsApp does, with Baileys' own encryptedStream. */
export async function encryptMedia(data: Buffer, type: MediaType) {
  const r = await encryptedStream(data, type);
  try {
    return { mediaKey: r.mediaKey, enc: await readFile(r.encFilePath), fileSha256: r.fileSha256, fileEncSha256: r.fileEncSha256, fileLength: r.fileLength };
  } finally {
    await rm(r.encFilePath, { force: true });
  }
}

/**
 * Checks and decrypts a downloaded file as a receiving client does: the ciphertext's sha256
 * against fileEncSha256, the MAC (HMAC-SHA256 over iv and ciphertext, 10 bytes) under the key
 * derived from mediaKey, then AES-256-CBC, then the plaintext's sha256 against fileSha256.
 */
export async function decryptMedia(
  enc: Uint8Array,
  m: { mediaKey?: Uint8Array | null; fileEncSha256?: Uint8Array | null; fileSha256?: Uint8Array | null },
  type: MediaType,
): Promise<Buffer> {
  if (!m.mediaKey?.length || !m.fileEncSha256?.length || !m.fileSha256?.length) throw new Error("the message lacks mediaKey, fileEncSha256 or fileSha256");
  if (!sha256(enc).equals(Buffer.from(m.fileEncSha256))) throw new Error("the downloaded file does not match fileEncSha256");
  if (enc.length < 10 + 16 || (enc.length - 10) % 16 !== 0) throw new Error("the downloaded file is no AES-CBC ciphertext with a MAC");
  const keys = await getMediaKeys(m.mediaKey, type);
  const [iv, cipherKey, macKey] = [keys.iv!, keys.cipherKey!, keys.macKey!];
  const body = enc.subarray(0, enc.length - 10);
  const mac = createHmac("sha256", macKey).update(iv).update(body).digest().subarray(0, 10);
  if (!timingSafeEqual(mac, enc.subarray(enc.length - 10))) throw new Error("the file's MAC does not verify under the media key");
  const decipher = createDecipheriv("aes-256-cbc", cipherKey, iv);
  const plain = Buffer.concat([decipher.update(body), decipher.final()]);
  if (!sha256(plain).equals(Buffer.from(m.fileSha256))) throw new Error("the decrypted file does not match fileSha256");
  return plain;
}

/** Width, height and a small JPEG thumbnail of an image, through Baileys' own helper, if it can read it. */
async function imageFacts(data: Buffer): Promise<{ width?: number; height?: number; thumbnail?: Buffer }> {
  try {
    const { buffer, original } = await extractImageThumb(data);
    return { width: original.width || undefined, height: original.height || undefined, thumbnail: buffer };
  } catch {
    return {};
  }
}

/** Duration in whole seconds, through Baileys' own helper (music-metadata), if it can read it. */
async function duration(data: Buffer): Promise<number | undefined> {
  try {
    const s = await getAudioDuration(data);
    return typeof s === "number" && Number.isFinite(s) && s > 0 ? Math.max(1, Math.round(s)) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A contact's media message: the file encrypted as WhatsApp does, uploaded to the media server
 * (in process; the server keeps it as a device's upload) and described as a phone describes it.
 */
export async function contactMediaMessage(
  media: MediaServer,
  kind: MediaKind,
  file: { data: Buffer; mimetype: string; fileName?: string },
  caption?: string,
): Promise<proto.IMessage> {
  const type = MEDIA_TYPE[kind];
  const e = await encryptMedia(file.data, type);
  const stored = media.store((MEDIA_PATH_MAP[type] ?? type).replace(/^\/mms\//, ""), e.enc);
  media.knowPlaintext(stored, e.fileSha256.toString("hex"));
  const common = {
    url: media.url + stored.directPath,
    directPath: stored.directPath,
    mediaKey: e.mediaKey,
    fileEncSha256: e.fileEncSha256,
    fileSha256: e.fileSha256,
    fileLength: e.fileLength,
    mimetype: file.mimetype,
    mediaKeyTimestamp: now(),
  };
  switch (kind) {
    case "image": {
      const f = await imageFacts(file.data);
      return { imageMessage: { ...common, caption, width: f.width, height: f.height, jpegThumbnail: f.thumbnail } };
    }
    case "sticker": {
      const f = await imageFacts(file.data);
      return { stickerMessage: { ...common, width: f.width, height: f.height } };
    }
    case "video":
      return { videoMessage: { ...common, caption, seconds: await duration(file.data) } };
    case "audio":
    case "voice":
      return { audioMessage: { ...common, ptt: kind === "voice", seconds: await duration(file.data) } };
    case "document": {
      const fileName = file.fileName ?? "file";
      const documentMessage = { ...common, fileName, title: fileName, caption };
      // A phone wraps a captioned document, as WhatsApp shows the caption under it.
      return caption ? { documentWithCaptionMessage: { message: { documentMessage } } } : { documentMessage };
    }
  }
}

type AnyMedia = proto.Message.IImageMessage &
  proto.Message.IVideoMessage &
  proto.Message.IAudioMessage &
  proto.Message.IDocumentMessage &
  proto.Message.IStickerMessage;

/** The media inside a Message (through the wrappers clients use), with its API kind and Baileys type. */
export function mediaContent(m: proto.IMessage): { kind: MediaKind; type: MediaType; content: AnyMedia } | undefined {
  const inner = normalizeMessageContent(m.deviceSentMessage?.message ?? m);
  if (!inner) return undefined;
  if (inner.imageMessage) return { kind: "image", type: "image", content: inner.imageMessage as AnyMedia };
  if (inner.videoMessage) return { kind: "video", type: "video", content: inner.videoMessage as AnyMedia };
  if (inner.ptvMessage) return { kind: "video", type: "video", content: inner.ptvMessage as AnyMedia };
  if (inner.audioMessage) return inner.audioMessage.ptt ? { kind: "voice", type: "audio", content: inner.audioMessage as AnyMedia } : { kind: "audio", type: "audio", content: inner.audioMessage as AnyMedia };
  if (inner.documentMessage) return { kind: "document", type: "document", content: inner.documentMessage as AnyMedia };
  if (inner.stickerMessage) return { kind: "sticker", type: "sticker", content: inner.stickerMessage as AnyMedia };
  return undefined;
}

/**
 * What a contact makes of a media message from a device: downloads the file from the media
 * server by its direct path (or URL), checks and decrypts it; undefined if it is no media message.
 */
export async function receiveMedia(media: MediaServer | undefined, m: proto.IMessage, log: EmulatorLog): Promise<ReceivedMedia | undefined> {
  const found = mediaContent(m);
  if (!found) return undefined;
  const c = found.content;
  const info: MediaInfo = { mimetype: c.mimetype ?? "" };
  const num = (v: unknown) => (typeof v === "number" && v > 0 ? v : undefined);
  if (found.kind === "document" && c.fileName) info.fileName = c.fileName;
  if (found.kind === "audio" || found.kind === "voice" || found.kind === "video") info.seconds = num(c.seconds);
  if (found.kind === "image" || found.kind === "video" || found.kind === "sticker") {
    info.width = num(c.width);
    info.height = num(c.height);
  }
  if (c.jpegThumbnail?.length) info.thumbnailSize = c.jpegThumbnail.length;
  for (const k of Object.keys(info) as (keyof MediaInfo)[]) if (info[k] === undefined) delete info[k];

  const where = c.directPath || c.url || "";
  const file = media && where ? media.find(where) : undefined;
  if (!file) {
    info.error = "the file is not on the media server (404)";
  } else {
    try {
      const plain = await decryptMedia(file.enc, c, found.type);
      const hex = sha256(plain).toString("hex");
      media!.knowPlaintext(file, hex);
      Object.assign(info, { size: plain.length, sha256: hex });
    } catch (err) {
      info.error = (err as Error).message;
    }
  }
  if (info.error) log.warn("contact could not get a media file", { where, error: info.error });
  const caption = found.kind === "image" || found.kind === "video" || found.kind === "document" ? c.caption || undefined : undefined;
  // Key order of the control API's answer: type, caption, media.
  return caption === undefined ? { type: found.kind, media: sortInfo(info) } : { type: found.kind, caption, media: sortInfo(info) };
}

function sortInfo(info: MediaInfo): MediaInfo {
  const order: (keyof MediaInfo)[] = ["mimetype", "size", "sha256", "fileName", "seconds", "width", "height", "thumbnailSize", "error"];
  return Object.fromEntries(order.filter((k) => info[k] !== undefined).map((k) => [k, info[k]])) as unknown as MediaInfo;
}
