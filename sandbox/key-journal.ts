// Signal key writes as lines appended to one file, folded into the key files now and then.
// Every message sent or received changes a Signal session record. Writing its file anew (a
// temporary file renamed over the old one) made ext4 start the file's writeback at each rename
// (auto_da_alloc) and held the sandbox's only thread meanwhile; an append is one write. It is as
// safe against a crash: replay drops a torn last line, as if that write had never been made.
import { appendFileSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

export const JOURNAL_FILE = "keys.journal";

/** Where the journal's entries land when it is folded: a key file written whole, or removed. */
export interface KeyFiles {
  write(name: string, json: string): void;
  remove(name: string): void;
}

export class KeyJournal {
  /** What the journal holds that the key files do not yet: JSON, or null for a removed key. */
  private readonly pending = new Map<string, string | null>();
  private size = 0;
  private readonly path: string;

  /** Folds in what a journal left behind (its complete lines), so the key files are current. */
  constructor(
    dir: string,
    private readonly files: KeyFiles,
    private readonly foldAt = 32 * 1024,
  ) {
    this.path = join(dir, JOURNAL_FILE);
    let text = "";
    try {
      text = readFileSync(this.path, "utf8");
    } catch {
      return; // none: the last run folded it, or never wrote a key
    }
    const complete = text.slice(0, text.lastIndexOf("\n") + 1);
    for (const line of complete.split("\n")) {
      const tab = line.indexOf("\t");
      if (tab > 0) this.pending.set(line.slice(0, tab), line.slice(tab + 1) || null);
    }
    this.fold();
  }

  /** The key's JSON as last written, null when it was removed, undefined when the journal does not know it. */
  get(name: string): string | null | undefined {
    return this.pending.get(name);
  }

  /** Appends the writes (JSON, or null to remove) in one write; names have no tab or newline. */
  append(writes: [name: string, json: string | null][]): void {
    if (writes.length === 0) return;
    // JSON.stringify never writes a raw newline, so each entry is one line.
    const text = writes.map(([name, json]) => `${name}\t${json ?? ""}\n`).join("");
    appendFileSync(this.path, text, { mode: 0o600 });
    for (const [name, json] of writes) this.pending.set(name, json);
    this.size += text.length;
    if (this.size >= this.foldAt) this.fold();
  }

  /** Writes every pending key to its file, then drops the journal (a crash in between replays it). */
  fold(): void {
    for (const [name, json] of this.pending) {
      if (json === null) this.files.remove(name);
      else this.files.write(name, json);
    }
    rmSync(this.path, { force: true });
    this.pending.clear();
    this.size = 0;
  }
}
