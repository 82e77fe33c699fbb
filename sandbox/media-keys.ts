// What it takes to download an incoming file later (its media key, direct path, hashes), kept on
// the volume and only here: the keys never leave the sandbox, and the API's "download it now"
// (MEDIA_AUTO_DOWNLOAD=false, or a retry after a failure or retention) names just the message.
// One JSON line a file, appended; looked up by reading the file (a download asked for later is
// rare, and nothing is held in memory); past MAX_BYTES the older half is dropped.
import { proto, type WAMessage } from "@whiskeysockets/baileys";
import { appendFileSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";

/** About 8,000 files' keys (a line is about 500 bytes without the thumbnail). */
const MAX_BYTES = 4 * 1024 * 1024;

export class MediaKeys {
  constructor(private readonly file: string) {}

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
    appendFileSync(this.file, JSON.stringify({ key: m.key, message: content.toJSON() }) + "\n");
    this.compact();
  }

  /** The message as Baileys downloads it, or null when its keys are not here. */
  get(id: string): WAMessage | null {
    let text = "";
    try {
      text = readFileSync(this.file, "utf8");
    } catch {
      return null;
    }
    // The newest line for the id wins (a message edited or seen twice).
    for (const line of text.split("\n").reverse()) {
      if (!line.includes(JSON.stringify(id))) continue;
      try {
        const entry = JSON.parse(line) as { key: WAMessage["key"]; message: object };
        if (entry.key.id === id) return { key: entry.key, message: proto.Message.fromObject(entry.message) };
      } catch {}
    }
    return null;
  }

  private compact(): void {
    let size = 0;
    try {
      size = statSync(this.file).size;
    } catch {}
    if (size <= MAX_BYTES) return;
    const lines = readFileSync(this.file, "utf8").split("\n").filter(Boolean);
    writeFileSync(`${this.file}.tmp`, lines.slice(Math.floor(lines.length / 2)).join("\n") + "\n");
    renameSync(`${this.file}.tmp`, this.file);
  }
}
