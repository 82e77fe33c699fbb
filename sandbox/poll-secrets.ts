// The secrets of polls this session sent or received, kept on the volume: WhatsApp encrypts each
// vote with its poll's secret, so a vote that comes days later needs it. One JSON line a poll,
// appended, looked up by reading the file (votes are rare next to messages); past MAX_BYTES the
// older half goes.
import { appendFileSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";

/** About 10,000 polls. */
const MAX_BYTES = 4 * 1024 * 1024;

export interface PollSecret {
  id: string;
  /** The poll's messageSecret, base64. */
  secret: string;
  /** Who created it, as WhatsApp keys it (the account's own jid for ours). */
  creator: string;
  options: string[];
}

export class PollSecrets {
  constructor(private readonly file: string) {}

  add(p: PollSecret): void {
    appendFileSync(this.file, JSON.stringify(p) + "\n");
    let size = 0;
    try {
      size = statSync(this.file).size;
    } catch {}
    if (size <= MAX_BYTES) return;
    const lines = readFileSync(this.file, "utf8").split("\n").filter(Boolean);
    writeFileSync(`${this.file}.tmp`, lines.slice(Math.floor(lines.length / 2)).join("\n") + "\n");
    renameSync(`${this.file}.tmp`, this.file);
  }

  get(id: string): PollSecret | null {
    let text = "";
    try {
      text = readFileSync(this.file, "utf8");
    } catch {
      return null;
    }
    for (const line of text.split("\n").reverse()) {
      if (!line.includes(JSON.stringify(id))) continue;
      try {
        const p = JSON.parse(line) as PollSecret;
        if (p.id === id) return p;
      } catch {}
    }
    return null;
  }
}
