// The sandbox's auth state on disk: what is written comes back after a restart, and a write a
// crash interrupted (a leftover temporary file) never becomes state.
import { expect, test } from "bun:test";
import { initAuthCreds } from "@whiskeysockets/baileys";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clearAuthStore, openAuthStore, writeFileAtomic } from "../../sandbox/auth-store";
import { JOURNAL_FILE } from "../../sandbox/key-journal";

test("credentials and keys survive a reopen; a torn temporary file is discarded", async () => {
  const dir = join(mkdtempSync(join(tmpdir(), "auth-")), "auth");
  const first = await openAuthStore(dir);
  first.state.creds.me = { id: "4915100000001:1@s.whatsapp.net", name: "Ann" };
  await first.saveCreds();
  await first.state.keys.set({ "pre-key": { "1": { private: new Uint8Array(32).fill(1), public: new Uint8Array(32).fill(2) } } });
  await first.flush();
  // A crash in the middle of a write leaves only a temporary file behind.
  writeFileSync(join(dir, "creds.json.123.abc.tmp"), '{"me": {"id": "torn');

  const second = await openAuthStore(dir);
  expect(second.state.creds.me?.id).toBe("4915100000001:1@s.whatsapp.net");
  expect(Buffer.from(second.state.creds.noiseKey.public).equals(Buffer.from(first.state.creds.noiseKey.public))).toBe(true);
  const keys = await second.state.keys.get("pre-key", ["1", "2"]);
  expect(Buffer.from(keys["1"]!.public)).toEqual(Buffer.alloc(32, 2));
  expect(keys["2"]).toBeUndefined();
  expect(readdirSync(dir).some((f) => f.endsWith(".tmp"))).toBe(false);

  await second.state.keys.set({ "pre-key": { "1": null } });
  await second.flush();
  expect((await (await openAuthStore(dir)).state.keys.get("pre-key", ["1"]))["1"]).toBeUndefined();

  await clearAuthStore(dir);
  expect(existsSync(dir)).toBe(false);
  expect((await openAuthStore(dir)).state.creds.me).toBeUndefined();
});

test("an atomic write replaces the whole file or nothing", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atomic-"));
  const file = join(dir, "creds.json");
  await writeFileAtomic(file, JSON.stringify(initAuthCreds()));
  await Promise.all(Array.from({ length: 20 }, (_, i) => writeFileAtomic(file, JSON.stringify({ i, pad: "x".repeat(10_000) }))));
  const parsed = JSON.parse(await Bun.file(file).text());
  expect(typeof parsed.i).toBe("number");
  expect(readdirSync(dir)).toEqual(["creds.json"]);
});

test("812 pre-keys written at once (as at linking) never hold more than 64 files open, and all land", async () => {
  const dir = join(mkdtempSync(join(tmpdir(), "auth-")), "auth");
  const store = await openAuthStore(dir);
  const openFiles = () => readdirSync("/proc/self/fd").length;
  const baseline = openFiles();
  let most = baseline;
  // Sampled from a timer while the writes run; each write opens, writes and closes its file.
  const probe = setInterval(() => (most = Math.max(most, openFiles())), 0);
  const preKeys = Object.fromEntries(Array.from({ length: 812 }, (_, i) => [String(i + 1), { private: new Uint8Array(32).fill(i % 256), public: new Uint8Array(32).fill(7) }]));
  await store.state.keys.set({ "pre-key": preKeys });
  await store.flush();
  clearInterval(probe);
  expect(most - baseline).toBeLessThanOrEqual(64 + 8);
  expect(readdirSync(dir).filter((f) => f.startsWith("pre-key-"))).toHaveLength(812);
  const back = await (await openAuthStore(dir)).state.keys.get("pre-key", ["1", "812"]);
  expect(Buffer.from(back["812"]!.private)).toEqual(Buffer.alloc(32, 811 % 256));
});

test("a key never written is answered from memory: the store keeps the list of its key files", async () => {
  const dir = join(mkdtempSync(join(tmpdir(), "auth-")), "auth");
  const store = await openAuthStore(dir);
  const token = { token: Buffer.from("t"), timestamp: "1" };
  expect(await store.state.keys.get("tctoken", ["1@lid"])).toEqual({});
  await store.state.keys.set({ tctoken: { "1@lid": token } });
  expect((await store.state.keys.get("tctoken", ["1@lid"]))["1@lid"]!.token).toEqual(Buffer.from("t"));
  // A file that appears behind the store's back is not looked for: the store is its folder's only writer.
  writeFileSync(join(dir, "tctoken-2@lid.json"), JSON.stringify(token));
  expect(await store.state.keys.get("tctoken", ["2@lid"])).toEqual({});
  await store.state.keys.set({ tctoken: { "1@lid": null } });
  expect(await store.state.keys.get("tctoken", ["1@lid"])).toEqual({});
  expect(readdirSync(dir).filter((f) => f.endsWith(".json"))).toEqual(["tctoken-2@lid.json"]);
  // A reopened store lists the folder again.
  expect(Object.keys(await (await openAuthStore(dir)).state.keys.get("tctoken", ["1@lid", "2@lid"]))).toEqual(["2@lid"]);
});

test("key writes are journaled: a reopen after a crash replays them, drops a torn last line, and folds them into the key files", async () => {
  const dir = join(mkdtempSync(join(tmpdir(), "auth-")), "auth");
  const store = await openAuthStore(dir);
  const session = (n: number) => Buffer.alloc(8, n);
  await store.state.keys.set({ session: { "1.0": session(1), "2.0": session(2) } });
  await store.state.keys.set({ session: { "1.0": session(3), "2.0": null } });
  // Written as one journal line each, no key file yet; read back from memory.
  expect(readdirSync(dir).filter((f) => f.startsWith("session-"))).toEqual([]);
  expect(readFileSync(join(dir, JOURNAL_FILE), "utf8").trim().split("\n")).toHaveLength(4);
  expect((await store.state.keys.get("session", ["1.0", "2.0"]))["1.0"]).toEqual(session(3));
  // The process dies here, halfway through its next append.
  appendFileSync(join(dir, JOURNAL_FILE), 'session-1.0.json\t{"type":"Buf');

  const reopened = await openAuthStore(dir);
  expect(await reopened.state.keys.get("session", ["1.0", "2.0"])).toEqual({ "1.0": session(3) });
  expect(readdirSync(dir).filter((f) => f.startsWith("session-") || f === JOURNAL_FILE)).toEqual(["session-1.0.json"]);
});

test("the journal is folded into the key files once it holds 32 KiB, keeping only each key's last write", async () => {
  const dir = join(mkdtempSync(join(tmpdir(), "auth-")), "auth");
  const store = await openAuthStore(dir);
  for (let i = 0; i < 200; i++) await store.state.keys.set({ session: { [`${i % 3}.0`]: Buffer.alloc(200, i % 256) } });
  const journal = existsSync(join(dir, JOURNAL_FILE)) ? readFileSync(join(dir, JOURNAL_FILE), "utf8") : "";
  expect(journal.length).toBeLessThan(32 * 1024);
  expect(readdirSync(dir).filter((f) => f.startsWith("session-")).sort()).toEqual(["session-0.0.json", "session-1.0.json", "session-2.0.json"]);
  // Whatever the files or the journal hold, the last write of each key is what reads back, now and after a reopen.
  const last = { "0.0": 198, "1.0": 199, "2.0": 197 };
  for (const s of [store, await openAuthStore(dir)]) {
    const got = await s.state.keys.get("session", Object.keys(last));
    for (const [id, n] of Object.entries(last)) expect(Buffer.from(got[id]!)).toEqual(Buffer.alloc(200, n));
  }
});
