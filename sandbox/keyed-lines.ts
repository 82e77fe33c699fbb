// A small keyed store on the volume: one JSON line an entry, appended, looked up by reading the
// file back to front (the newest line for a key wins), the older half dropped past `maxBytes`.
// For what is written often and read rarely (the keys of files to download later, the secrets
// of polls), so nothing is held in memory.
import { appendFileSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";

export class KeyedLines<T> {
  constructor(
    private readonly file: string,
    private readonly maxBytes: number,
    /** The key a parsed line is stored under. */
    private readonly keyOf: (entry: T) => string | undefined,
  ) {}

  add(entry: T): void {
    appendFileSync(this.file, JSON.stringify(entry) + "\n");
    let size = 0;
    try {
      size = statSync(this.file).size;
    } catch {}
    if (size <= this.maxBytes) return;
    const lines = readFileSync(this.file, "utf8").split("\n").filter(Boolean);
    writeFileSync(`${this.file}.tmp`, lines.slice(Math.floor(lines.length / 2)).join("\n") + "\n");
    renameSync(`${this.file}.tmp`, this.file);
  }

  get(key: string): T | null {
    let text = "";
    try {
      text = readFileSync(this.file, "utf8");
    } catch {
      return null;
    }
    for (const line of text.split("\n").reverse()) {
      if (!line.includes(JSON.stringify(key))) continue;
      try {
        const entry = JSON.parse(line) as T;
        if (this.keyOf(entry) === key) return entry;
      } catch {}
    }
    return null;
  }
}
