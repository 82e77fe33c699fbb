// The admin key's hashes: the key itself is never stored.
import { count, eq } from "drizzle-orm";
import type { Db } from "./client";
import { adminKeys } from "./schema";

export class AdminKeyRepository {
  constructor(private readonly db: Db) {}

  async has(keyHash: string): Promise<boolean> {
    const rows = await this.db.select().from(adminKeys).where(eq(adminKeys.keyHash, keyHash)).limit(1);
    return rows.length > 0;
  }

  async count(): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(adminKeys);
    return Number(row?.n ?? 0);
  }

  /** Makes `keyHash` the only admin key (a configured key replaces any earlier one). */
  async replaceAll(keyHash: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.delete(adminKeys);
      await tx.insert(adminKeys).values({ keyHash });
    });
  }

  async add(keyHash: string): Promise<void> {
    await this.db.insert(adminKeys).values({ keyHash }).onConflictDoNothing();
  }
}
