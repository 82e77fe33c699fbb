// The admin key's life on a real database (PGlite): generated and printed once, only its hash
// stored, replaced by ADMIN_API_KEY when that is set.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureAdminKey } from "../../src/auth/admin";
import { generateKey, hashKey } from "../../src/auth/keys";
import { openDatabase } from "../../src/db/client";
import { adminKeys } from "../../src/db/schema";
import { AdminKeyRepository } from "../../src/db/admin-key-repository";

const dir = mkdtempSync(join(tmpdir(), "wa-admin-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("generated once, printed once, stored hashed; a configured key replaces it", async () => {
  const db = await openDatabase({ dataDir: dir });
  const keys = new AdminKeyRepository(db.db);
  const printed: string[] = [];
  expect(await ensureAdminKey(keys, undefined, (l) => printed.push(l))).toBe("generated");
  expect(printed).toHaveLength(1);
  const key = /wamk_[0-9a-f]{48}/.exec(printed[0]!)![0];
  const rows = await db.db.select().from(adminKeys);
  expect(rows.map((r) => r.keyHash)).toEqual([hashKey(key)]);
  expect(JSON.stringify(rows)).not.toContain(key);

  expect(await ensureAdminKey(keys, undefined, (l) => printed.push(l))).toBe("stored");
  expect(printed).toHaveLength(1);
  expect(await keys.has(hashKey(key))).toBe(true);

  const configured = generateKey("admin");
  expect(await ensureAdminKey(keys, configured, (l) => printed.push(l))).toBe("configured");
  expect(printed).toHaveLength(1);
  expect(await keys.has(hashKey(configured))).toBe(true);
  expect(await keys.has(hashKey(key))).toBe(false);
  await db.close();
});
