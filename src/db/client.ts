// One Drizzle database for both backends: postgres.js when DATABASE_URL is set, PGlite
// (Postgres compiled to WebAssembly, in-process) under DATA_DIR otherwise. Both run the same
// drizzle-kit migrations from ./drizzle at start.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { modulePath } from "../platform/module-path";
import { preparing } from "./prepared-client";
import * as schema from "./schema";

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  db: Db;
  kind: "postgres" | "pglite";
  /**
   * PostgreSQL's LISTEN/NOTIFY between the nodes sharing the database (null on PGlite, which
   * serves one process): `listen` resolves once listening, and answers how to stop.
   */
  pubsub: PubSub | null;
  /** True when the database answers a trivial query. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface PubSub {
  listen(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>>;
  /** Sent when the statement runs (outside any transaction: after the change it announces committed). */
  notify(channel: string, payload: string): Promise<void>;
}

const migrationsFolder = modulePath(import.meta.url, "../../drizzle");

/** PostgreSQL at `databaseUrl`, else PGlite under `dataDir`, or in memory when `dataDir` is null (tests). */
export async function openDatabase(opts: { databaseUrl?: string; dataDir: string | null }): Promise<Database> {
  if (opts.databaseUrl) {
    // Postgres notices ("relation already exists, skipping") are noise in JSON logs.
    // connect_timeout: a server that does not answer fails requests in seconds, not postgres.js' 30.
    const client = postgres(opts.databaseUrl, { max: 10, onnotice: () => {}, connect_timeout: 5 });
    const db = drizzlePostgres(preparing(client), { schema }) as unknown as Db;
    await migratePostgres(db as never, { migrationsFolder });
    const pubsub: PubSub = {
      listen: async (channel, onMessage) => {
        const { unlisten } = await client.listen(channel, onMessage);
        return unlisten;
      },
      notify: async (channel, payload) => void (await client.notify(channel, payload)),
    };
    return {
      db,
      kind: "postgres",
      pubsub,
      ping: () => ping(db),
      close: () => client.end({ timeout: 5 }),
    };
  }
  let dir: string | undefined;
  if (opts.dataDir !== null) {
    dir = join(opts.dataDir, "pglite");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  const client = await PGlite.create(dir);
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  await migratePglite(db as never, { migrationsFolder });
  return {
    db,
    kind: "pglite",
    pubsub: null,
    ping: () => ping(db),
    close: () => client.close(),
  };
}

/** Health checks must answer quickly: a database that takes longer than this is "not answering". */
export const PING_TIMEOUT_MS = 2000;

async function ping(db: Db): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
  });
  try {
    return await Promise.race([db.execute(sql`select 1`).then(() => true, () => false), late]);
  } finally {
    clearTimeout(timer);
  }
}
