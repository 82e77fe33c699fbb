// Facts about this installation kept with its data (table `settings`, key/value).
import { eq } from "drizzle-orm";
import type { Db } from "./client";
import { settings } from "./schema";

export class SettingsRepository {
  constructor(private readonly db: Db) {}

  async get(key: string): Promise<string | undefined> {
    const [row] = await this.db.select().from(settings).where(eq(settings.key, key)).limit(1);
    return row?.value;
  }

  /** The stored value, or `make()`'s stored first; two APIs starting at once get the same value. */
  async getOrCreate(key: string, make: () => string): Promise<string> {
    await this.db.insert(settings).values({ key, value: make() }).onConflictDoNothing();
    const value = await this.get(key);
    if (value === undefined) throw new Error(`setting ${key} was not stored`);
    return value;
  }
}
