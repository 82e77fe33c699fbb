// Hot statements built once per shape (which columns, how many events) and then only run with
// values: building a query with Drizzle costs more CPU than PostgreSQL spends running it.
import { sql, type Placeholder } from "drizzle-orm";
import type { PgPreparedQuery, PreparedQueryConfig } from "drizzle-orm/pg-core";

/** The keys that carry a value, sorted: part of a statement's shape. */
export function givenKeys(values: object): string[] {
  return Object.keys(values)
    .filter((k) => (values as Record<string, unknown>)[k] !== undefined)
    .sort();
}

/** A placeholder per key, named after it: filled by the values at each run. */
export function placeholders(keys: string[]): Record<string, Placeholder> {
  return Object.fromEntries(keys.map((k) => [k, sql.placeholder(k)]));
}

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
