// Baileys auth state in files under the session volume, written so that a crash or power loss
// mid-write never leaves a torn file: each write goes to a temporary file that is flushed and
// then renamed over the old one (rename is atomic on one filesystem).
import {
  BufferJSON,
  initAuthCreds,
  proto,
  type AuthenticationCreds,
  type AuthenticationState,
  type SignalDataTypeMap,
} from "@whiskeysockets/baileys";
import { closeSync, fsyncSync, openSync } from "node:fs";
import { mkdir, open, readFile, readdir, rename, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { Limiter } from "../src/limiter";

export interface AuthStore {
  state: AuthenticationState;
  saveCreds(): Promise<void>;
  /** Resolves when every write started so far is on disk. */
  flush(): Promise<void>;
}

const safeName = (name: string) => name.replace(/\//g, "__").replace(/:/g, "-");

/**
 * Writes to a temporary file and renames it over `path`: a crash mid-write leaves the old file
 * or the new one, never a torn one. With `durable`, the data is flushed to disk before the
 * rename, so a power loss cannot either.
 */
export async function writeFileAtomic(path: string, data: string, durable = true): Promise<void> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const handle = await open(tmp, "w", 0o600);
  try {
    await handle.writeFile(data);
    if (durable) await handle.sync();
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

/** Key files open at once, at most. */
const OPEN_KEY_FILES = 64;

export async function openAuthStore(dir: string): Promise<AuthStore> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Leftovers of a write that a crash interrupted are incomplete by definition.
  for (const name of await readdir(dir)) if (name.endsWith(".tmp")) await rm(join(dir, name), { force: true });

  // Linking writes 812 pre-keys at once; the container allows 1024 open files in all.
  const files = new Limiter(OPEN_KEY_FILES);
  // One write at a time per file keeps the last write the one that lands.
  const chains = new Map<string, Promise<void>>();
  // A settled chain is dropped, or the map would keep one entry per key file ever written.
  const serial = (file: string, job: () => Promise<void>) => {
    const next = (chains.get(file) ?? Promise.resolve()).then(job, job);
    chains.set(file, next);
    const forget = () => {
      if (chains.get(file) === next) chains.delete(file);
    };
    next.then(forget, forget);
    return next;
  };

  // The credentials are flushed to disk; the hundreds of signal keys written at first login
  // are only renamed into place (atomic against crashes), or linking would wait on as many fsyncs.
  const write = (file: string, value: unknown) =>
    serial(file, async () => {
      const durable = file === "creds.json";
      await files.run(() => writeFileAtomic(join(dir, safeName(file)), JSON.stringify(value, BufferJSON.replacer), durable));
      if (durable) syncDir(dir);
    });
  const remove = (file: string) => serial(file, () => unlink(join(dir, safeName(file))).catch(() => {}));
  const read = async (file: string): Promise<unknown> => {
    try {
      return JSON.parse(await files.run(() => readFile(join(dir, safeName(file)), "utf8")), BufferJSON.reviver);
    } catch {
      return null;
    }
  };

  const creds = ((await read("creds.json")) as AuthenticationCreds | null) ?? initAuthCreds();
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
          const jobs: Promise<void>[] = [];
          for (const category of Object.keys(data) as (keyof SignalDataTypeMap)[]) {
            for (const [id, value] of Object.entries(data[category] ?? {})) {
              const file = `${category}-${id}.json`;
              jobs.push(value ? write(file, value) : remove(file));
            }
          }
          await Promise.all(jobs);
        },
      },
    },
    saveCreds: () => write("creds.json", creds),
    flush: async () => {
      await Promise.all([...chains.values()]);
    },
  };
}

/** Forgets the linked device: everything in the auth folder goes. */
export async function clearAuthStore(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
