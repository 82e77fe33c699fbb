// The auth state's changes (credentials, Signal keys), reported to the API, which keeps a sealed
// copy in the database (src/sessions/auth-state.ts): a session that moves to another node starts
// from it without a new QR. Changes wait here a moment and go as one report; any other report
// first sends what waits, so the keys a message used are stored before the message is reported.
// A sandbox that starts with no credentials on its volume restores the copy first.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { AUTH_ENTRY_NAME, MAX_AUTH_ENTRIES, MAX_AUTH_VALUE_LENGTH, type Report } from "../src/channel/frames";
import type { ApiFiles } from "./media-files";
import type { SandboxLog } from "./log";

type Entry = [name: string, value: string | null];

const NAME = new RegExp(AUTH_ENTRY_NAME);
/** A report's entries stay well under the channel's frame limit (4 MiB); a larger entry goes alone. */
const MAX_REPORT_CHARS = 1024 * 1024;
/** How long a change waits for others to go with it. */
const BATCH_MS = 50;

export class AuthMirror {
  private readonly waiting = new Map<string, string | null>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly send: (r: Report) => void,
    /** Told of an entry the channel would refuse (too large, a name it does not take): left out, not the batch with it. */
    private readonly skipped: (name: string, chars: number) => void = () => {},
  ) {}

  /** Changes made to the auth state (written to the volume already). */
  add(entries: Entry[]): void {
    for (const [name, value] of entries) {
      this.waiting.delete(name); // re-inserted last: the order of writes is kept
      this.waiting.set(name, value);
    }
    this.timer ??= setTimeout(() => this.flush(), BATCH_MS);
  }

  /** Reports what waits, in as many reports as its size needs; whether there was anything. */
  flush(): boolean {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    let batch: Entry[] = [];
    let size = 0;
    for (const [name, value] of this.waiting) {
      const chars = name.length + (value?.length ?? 0);
      if ((value?.length ?? 0) > MAX_AUTH_VALUE_LENGTH || !NAME.test(name)) {
        this.skipped(name, chars);
        continue;
      }
      if (batch.length > 0 && (batch.length >= MAX_AUTH_ENTRIES || size + chars > MAX_REPORT_CHARS)) {
        this.send({ type: "auth", entries: batch });
        batch = [];
        size = 0;
      }
      batch.push([name, value]);
      size += chars;
    }
    if (batch.length > 0) this.send({ type: "auth", entries: batch });
    this.waiting.clear();
    return batch.length > 0;
  }
}

/**
 * Before the auth store opens: a volume without credentials (a session that came from another
 * node, or a new one) gets the API's copy, if it has one. Key files first, the credentials last,
 * each through a temporary file: a crash midway leaves no credentials, so the next start restores again.
 */
export async function restoreAuthState(authDir: string, files: ApiFiles, log: SandboxLog): Promise<number> {
  if (existsSync(join(authDir, "creds.json"))) return 0;
  let res: Response | null = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    res = await fetch(`${files.base}/auth-state`, {
      headers: { authorization: `Bearer ${files.token()}` },
      ...(files.unix ? { unix: files.unix } : {}),
    } as RequestInit).catch(() => null);
    if (res?.ok) break;
    await Bun.sleep(500 * (attempt + 1));
  }
  if (!res?.ok) throw new Error(`the API did not give the auth state (${res?.status ?? "no answer"})`);
  const { entries } = (await res.json()) as { entries: [string, string][] };
  if (entries.length === 0) return 0;
  mkdirSync(authDir, { recursive: true, mode: 0o700 });
  const write = (name: string, value: string) => {
    // Names come from the API's checked copy; still, nothing lands outside the folder.
    if (basename(name) !== name || name.startsWith(".")) return;
    writeFileSync(join(authDir, `${name}.tmp`), value, { mode: 0o600 });
    renameSync(join(authDir, `${name}.tmp`), join(authDir, name));
  };
  for (const [name, value] of entries) if (name !== "creds.json") write(name, value);
  const creds = entries.find(([name]) => name === "creds.json");
  if (creds) write(creds[0], creds[1]);
  writeFileSync(join(authDir, MIRRORED), "");
  log.info("auth state restored from the API", { entries: entries.length });
  return entries.length;
}

/** Written once the API holds the whole auth state (restored from it, or sent whole once). */
const MIRRORED = ".mirrored";

/**
 * A volume whose auth state the API never got whole (linked before the mirror, or while it was
 * off) sends all of it once, ahead of any change, so the session can move without a new QR.
 * `settled` resolves true once the API stored what was reported so far.
 */
export function mirrorExisting(authDir: string, mirror: AuthMirror, settled: () => Promise<boolean>, log: SandboxLog): void {
  if (!existsSync(join(authDir, "creds.json")) || existsSync(join(authDir, MIRRORED))) return;
  const entries = new Map<string, string | null>();
  for (const name of readdirSync(authDir)) {
    if (name.endsWith(".json")) entries.set(name, readFileSync(join(authDir, name), "utf8"));
  }
  // Key writes not yet folded into their files (key-journal.ts): the newest value of each.
  let journal = "";
  try {
    journal = readFileSync(join(authDir, "keys.journal"), "utf8");
  } catch {}
  for (const line of journal.slice(0, journal.lastIndexOf("\n") + 1).split("\n")) {
    const tab = line.indexOf("\t");
    if (tab > 0) entries.set(line.slice(0, tab), line.slice(tab + 1) || null);
  }
  mirror.add([...entries]);
  mirror.flush();
  void settled().then((ok) => {
    if (!ok) return;
    writeFileSync(join(authDir, MIRRORED), "");
    log.info("whole auth state mirrored", { entries: entries.size });
  });
}
