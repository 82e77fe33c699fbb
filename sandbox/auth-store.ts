// Baileys auth state in files under the session volume, written so that a crash mid-write never
// leaves a torn file. The credentials go to a temporary file that is flushed and renamed over the
// old one (rename is atomic on one filesystem); the signal keys go to a journal (key-journal.ts)
// that is folded into their files the same way, without the flush.
import {
  BufferJSON,
  initAuthCreds,
  proto,
  type AuthenticationCreds,
  type AuthenticationState,
  type SignalDataTypeMap,
} from "@whiskeysockets/baileys";
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, open, readFile, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Limiter } from "../src/limits";
import { KeyJournal } from "./key-journal";

export interface AuthStore {
  state: AuthenticationState;
  saveCreds(): Promise<void>;
  /** Resolves when every credentials write started so far is on disk (key writes are done when `set` returns). */
  flush(): Promise<void>;
}

// A name is also a journal line's key: no tab or newline.
const safeName = (name: string) => name.replace(/\//g, "__").replace(/:/g, "-").replace(/[\t\n]/g, "_");

/**
 * Writes to a temporary file, flushes it to disk and renames it over `path`: a crash or power
 * loss mid-write leaves the old file or the new one, never a torn one.
 */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const handle = await open(tmp, "w", 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    fsyncSync(fd);
    closeSync(fd);
  } catch {
    // Not every filesystem lets a directory be synced; the rename is still atomic.
  }
}

/**
 * A key file written whole through a temporary file renamed over it, synchronously and without
 * the flush: a key is a few hundred bytes that the page cache takes in microseconds.
 */
function writeKeyFile(path: string, data: string): void {
  const tmp = `${path}.tmp`; // one writer: this process, one write at a time
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Key files read at once, at most (the container allows 1024 open files in all). */
const OPEN_KEY_FILES = 64;

const isPreKey = (name: string) => name.startsWith("pre-key-");

/** Told of every change once it is on the volume (auth-mirror.ts): file name and JSON, or null for a removed key. */
export type AuthChanges = (entries: [name: string, json: string | null][]) => void;

export async function openAuthStore(dir: string, changed?: AuthChanges): Promise<AuthStore> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Leftovers of a write that a crash interrupted are incomplete by definition.
  for (const name of await readdir(dir)) if (name.endsWith(".tmp")) await rm(join(dir, name), { force: true });
  // Key writes go to the journal (see key-journal.ts); what an earlier run left there is folded in now.
  const journal = new KeyJournal(dir, {
    write: (name, json) => writeKeyFile(join(dir, name), json),
    remove: (name) => rmSync(join(dir, name), { force: true }),
  });
  // The key files there are, but the one-time pre-keys (812 at linking, each read once at most,
  // when a contact first writes): Baileys asks for keys it never had (a privacy token, a mapping)
  // with every message, and these are answered without a trip to the disk.
  const present = new Set((await readdir(dir)).filter((name) => name.endsWith(".json") && !isPreKey(name)));

  const reads = new Limiter(OPEN_KEY_FILES);
  const read = async (file: string): Promise<unknown> => {
    const name = safeName(file);
    const journaled = journal.get(name);
    if (journaled !== undefined) return journaled === null ? null : JSON.parse(journaled, BufferJSON.reviver);
    if (!isPreKey(name) && !present.has(name)) return null;
    try {
      return JSON.parse(await reads.run(() => readFile(join(dir, name), "utf8")), BufferJSON.reviver);
    } catch {
      return null;
    }
  };

  // The credentials are flushed to disk before they replace the old ones, one write at a time
  // (the last one lands); the signal keys are not flushed, or linking would wait on 812 pre-keys' fsyncs.
  let credsWritten: Promise<void> = Promise.resolve();
  const creds = ((await read("creds.json")) as AuthenticationCreds | null) ?? initAuthCreds();
  const saveCreds = () => {
    changed?.([["creds.json", JSON.stringify(creds, BufferJSON.replacer)]]);
    const job = async () => {
      await writeFileAtomic(join(dir, "creds.json"), JSON.stringify(creds, BufferJSON.replacer));
      syncDir(dir);
    };
    return (credsWritten = credsWritten.then(job, job));
  };
  return {
    state: {
      creds,
      keys: {
        get: async <T extends keyof SignalDataTypeMap>(type: T, ids: string[]) => {
          const out: { [id: string]: SignalDataTypeMap[T] } = {};
          await Promise.all(
            ids.map(async (id) => {
              let value = await read(`${type}-${id}.json`);
              if (type === "app-state-sync-key" && value) value = proto.Message.AppStateSyncKeyData.fromObject(value as object);
              if (value) out[id] = value as SignalDataTypeMap[T];
            }),
          );
          return out;
        },
        set: async (data) => {
          const writes: [string, string | null][] = [];
          for (const category of Object.keys(data) as (keyof SignalDataTypeMap)[]) {
            for (const [id, value] of Object.entries(data[category] ?? {})) {
              const name = safeName(`${category}-${id}.json`);
              writes.push([name, value ? JSON.stringify(value, BufferJSON.replacer) : null]);
            }
          }
          journal.append(writes);
          changed?.(writes);
          for (const [name, json] of writes) {
            if (isPreKey(name)) continue;
            if (json === null) present.delete(name);
            else present.add(name);
          }
        },
      },
    },
    saveCreds,
    flush: () => credsWritten,
  };
}

/** Forgets the linked device: everything in the auth folder goes. */
export async function clearAuthStore(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
