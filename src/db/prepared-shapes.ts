// Hot statements built once per shape (which columns, how many events) and then only run with
// values: building a query with Drizzle costs more CPU than PostgreSQL spends running it.
import type { PgPreparedQuery, PreparedQueryConfig } from "drizzle-orm/pg-core";

interface Preparable<T> {
  prepare(name: string): PgPreparedQuery<PreparedQueryConfig & { execute: T }>;
}

export class PreparedShapes {
  private readonly statements = new Map<string, PgPreparedQuery<PreparedQueryConfig>>();

  constructor(private readonly prefix: string) {}

  /** The statement for `shape`, built by `build` the first time. */
  get<T>(shape: string, build: () => Preparable<T>): PgPreparedQuery<PreparedQueryConfig & { execute: T }> {
    let statement = this.statements.get(shape);
    if (!statement) {
      statement = build().prepare(`${this.prefix}_${this.statements.size}`) as PgPreparedQuery<PreparedQueryConfig>;
      this.statements.set(shape, statement);
    }
    return statement as PgPreparedQuery<PreparedQueryConfig & { execute: T }>;
  }
}
