// Drizzle hands postgres.js its queries unnamed (`prepare: false`). postgres.js then has to wait
// for the server to describe a query's parameters before it can bind them: two round trips per
// query, and a parse and plan on every call. Named, a statement is described once per connection
// and its plan kept: one round trip. Statements with many parameters (bulk upserts, whose text
// changes with their row count) stay unnamed, so each connection keeps only a bounded set; so do
// those without parameters, which need no describing (and may hold several statements).
import type { Sql } from "postgres";

/** Above this many parameters a statement is not kept. */
const MAX_KEPT_PARAMETERS = 64;

export function preparing(sql: Sql): Sql {
  return new Proxy(sql, {
    get(target, key, receiver) {
      if (key === "unsafe") {
        return (query: string, params: unknown[] = [], options: { prepare?: boolean } = {}) =>
          target.unsafe(query, params as never[], { ...options, prepare: options.prepare || (params.length > 0 && params.length <= MAX_KEPT_PARAMETERS) });
      }
      // A transaction's queries go through its own client: it prepares the same way.
      if (key === "begin") {
        return (...args: unknown[]) => {
          const fn = args.pop() as (tx: Sql) => unknown;
          return (target.begin as (...a: unknown[]) => unknown)(...args, (tx: Sql) => fn(preparing(tx)));
        };
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
