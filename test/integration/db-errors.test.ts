// What the API's error mapping reads off database errors, from real refusals of PGlite and of a
// PostgreSQL server: text with NUL is the client's (400), not a failure of ours (500).
import { expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { openDatabase } from "../../src/db/client";
import { isDatabaseUnavailable, isUnstorableText } from "../../src/db/errors";
import { requireEnv } from "../support/env";

for (const backend of ["pglite", "postgres"] as const) {
  test(`${backend}: NUL in text and in jsonb is unstorable text; other refusals are not`, async () => {
    const d = await openDatabase({ databaseUrl: backend === "postgres" ? requireEnv("TEST_DATABASE_URL") : undefined, dataDir: null });
    try {
      const refusal = (query: ReturnType<typeof sql>) => d.db.execute(query).then(() => null, (e) => e);
      const inText = await refusal(sql`select ${"a\u0000b"}::text`);
      const inJson = await refusal(sql`select ${JSON.stringify({ a: "\u0000" })}::jsonb`);
      const notUuid = await refusal(sql`select ${"nope"}::uuid`);
      expect([inText, inJson, notUuid].every((e) => e instanceof Error)).toBe(true);
      expect(isUnstorableText(inText)).toBe(true);
      expect(isUnstorableText(inJson)).toBe(true);
      expect(isUnstorableText(notUuid)).toBe(false);
      expect(isDatabaseUnavailable(inText)).toBe(false);
    } finally {
      await d.close();
    }
  });
}
