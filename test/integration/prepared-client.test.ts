// Drizzle's queries on PostgreSQL are kept as prepared statements (one round trip each, a plan
// reused), except those with many parameters or none; a transaction's queries too.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { preparing } from "../../src/db/prepared-client";
import * as schema from "../../src/db/schema";
import { createTestDatabase } from "../support/databases";

let pg: Awaited<ReturnType<typeof createTestDatabase>>;
let client: postgres.Sql;
beforeAll(async () => {
  pg = await createTestDatabase();
  client = postgres(pg.url, { max: 1, onnotice: () => {} }); // one connection: its statements are the ones we see
});
afterAll(async () => {
  await client.end();
  await pg.drop();
});

const kept = async () => (await client`select statement from pg_prepared_statements`).map((r) => String(r.statement));

test("a query with parameters is prepared once and reused; one with many parameters or none is not kept", async () => {
  const db = drizzle(preparing(client), { schema });
  await db.execute(sql`create table t (id int primary key, v text)`);
  for (let i = 0; i < 3; i++) await db.execute(sql`insert into t values (${i}, ${`v${i}`})`);
  await db.transaction(async (tx) => {
    await tx.execute(sql`update t set v = ${"in tx"} where id = ${1}`);
  });
  const many = Array.from({ length: 100 }, (_, i) => i);
  const rows = await db.execute(sql`select count(*)::int as n from t where id in (${sql.join(many.map((i) => sql`${i}`), sql`, `)})`);
  expect(rows[0]).toEqual({ n: 3 });
  const statements = await kept();
  expect(statements.filter((s) => s.startsWith("insert into t"))).toHaveLength(1);
  expect(statements.filter((s) => s.startsWith("update t set"))).toHaveLength(1);
  expect(statements.some((s) => s.includes("where id in"))).toBe(false);
  expect(statements.some((s) => s.startsWith("create table"))).toBe(false);
  expect((await db.execute(sql`select v from t where id = ${1}`))[0]).toEqual({ v: "in tx" });
});
