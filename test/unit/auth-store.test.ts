// The sandbox's auth state on disk: what is written comes back after a restart, and a write a
// crash interrupted (a leftover temporary file) never becomes state.
import { expect, test } from "bun:test";
import { initAuthCreds } from "@whiskeysockets/baileys";
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clearAuthStore, openAuthStore, writeFileAtomic } from "../../sandbox/auth-store";

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
  expect(readdirSync(dir).sort()).toEqual(["tctoken-2@lid.json"]);
  // A reopened store lists the folder again.
  expect(Object.keys(await (await openAuthStore(dir)).state.keys.get("tctoken", ["1@lid", "2@lid"]))).toEqual(["2@lid"]);
});
