// What it takes to download an incoming file later (its media key, direct path, hashes), kept on
// the volume and only here: the keys never leave the sandbox, and the API's "download it now"
// (MEDIA_AUTO_DOWNLOAD=false, or a retry after a failure or retention) names just the message.
// One JSON line a file, appended; looked up by reading the file (a download asked for later is
// rare, and nothing is held in memory); past MAX_BYTES the older half is dropped.
import { proto, type WAMessage } from "@whiskeysockets/baileys";
import { KeyedLines } from "./keyed-lines";

/** About 8,000 files' keys (a line is about 500 bytes without the thumbnail). */
const MAX_BYTES = 4 * 1024 * 1024;

type Entry = { key: WAMessage["key"]; message: object };

export class MediaKeys {
  private readonly lines: KeyedLines<Entry>;

  constructor(file: string) {
    this.lines = new KeyedLines<Entry>(file, MAX_BYTES, (e) => e.key?.id ?? undefined);
  }

  /** Keeps what downloading `m`'s file needs (its key and content, without the preview). */
  add(m: WAMessage): void {
    if (!m.key.id || !m.message) return;
    // A copy: the message still goes on to be reported and downloaded.
    const content = proto.Message.decode(proto.Message.encode(m.message).finish());
    for (const part of Object.values(content) as { jpegThumbnail?: unknown; contextInfo?: unknown }[]) {
      if (part && typeof part === "object") {
        delete part.jpegThumbnail;
        delete part.contextInfo;
      }
    }
    // toJSON writes bytes as base64, which fromObject reads back.
    this.lines.add({ key: m.key, message: content.toJSON() });
  }

  /** The message as Baileys downloads it, or null when its keys are not here (the newest line for the id wins). */
  get(id: string): WAMessage | null {
    const entry = this.lines.get(id);
    return entry ? { key: entry.key, message: proto.Message.fromObject(entry.message) } : null;
  }
}
