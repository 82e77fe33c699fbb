// The admin key's life on a real database (PGlite): generated and shown once, only its hash
// stored, replaced by ADMIN_API_KEY when that is set; on a terminal it is printed, otherwise
// (systemd's journal) it goes to a 0600 file in DATA_DIR and never to stdout.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN_KEY_FILE, ensureAdminKey } from "../../src/auth/admin";
import { generateKey, hashKey } from "../../src/auth/keys";
import { openDatabase } from "../../src/db/client";
import { adminKeys } from "../../src/db/schema";
import { AdminKeyRepository } from "../../src/db/admin-key-repository";
import { silentLogger } from "../../src/log";
import { startTestApi } from "../support/api";

const dir = mkdtempSync(join(tmpdir(), "wa-admin-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("generated once, printed once, stored hashed; a configured key replaces it", async () => {
  const db = await openDatabase({ dataDir: dir });
  const keys = new AdminKeyRepository(db.db);
  const printed: string[] = [];
  const output = { dataDir: dir, log: silentLogger, print: (l: string) => printed.push(l) };
  expect(await ensureAdminKey(keys, undefined, output)).toBe("generated");
  expect(printed).toHaveLength(1);
  const key = /wamk_[0-9a-f]{48}/.exec(printed[0]!)![0];
  const rows = await db.db.select().from(adminKeys);
  expect(rows.map((r) => r.keyHash)).toEqual([hashKey(key)]);
  expect(JSON.stringify(rows)).not.toContain(key);

  expect(await ensureAdminKey(keys, undefined, output)).toBe("stored");
  expect(printed).toHaveLength(1);
  expect(await keys.has(hashKey(key))).toBe(true);

  const configured = generateKey("admin");
  expect(await ensureAdminKey(keys, configured, output)).toBe("configured");
  expect(printed).toHaveLength(1);
  expect(await keys.has(hashKey(configured))).toBe(true);
  expect(await keys.has(hashKey(key))).toBe(false);
  await db.close();
});

test("an API whose stdout is a pipe writes the generated key to DATA_DIR/admin-key (0600), logs where, and never prints it", async () => {
  // No Podman needed here: the API starts without it.
  const t = await startTestApi("pglite", { ADMIN_API_KEY: "", LOG_LEVEL: "info", PODMAN_SOCKET: "/tmp/no-podman-here/podman.sock" }, { process: true, captureStdout: true });
  try {
    const file = join(t.dataDir, ADMIN_KEY_FILE);
    const key = readFileSync(file, "utf8").trim();
    expect(key).toMatch(/^wamk_[0-9a-f]{48}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // The key in the file is the admin key.
    expect((await t.call("GET", "/sessions", { key })).status).toBe(200);
    await t.stopApi();
    const out = t.stdout();
    expect(out).not.toContain(key);
    expect(out).not.toContain("ADMIN API KEY");
    const notice = out.trim().split("\n").map((l) => JSON.parse(l)).find((r) => r.file === file);
    expect(notice).toMatchObject({ level: "warn" });
    expect(notice.msg).toContain("written to a file");
  } finally {
    await t.close();
  }
});
