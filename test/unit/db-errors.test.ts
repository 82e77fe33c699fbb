import { expect, test } from "bun:test";
import { DrizzleQueryError } from "drizzle-orm/errors";
import { isDatabaseUnavailable } from "../../src/db/errors";

const withCode = (code: string, message = code) => Object.assign(new Error(message), { code });

test("connection failures, shutdowns and class 08 are 'unavailable', wherever they sit in the cause chain", () => {
  for (const code of ["ECONNREFUSED", "ECONNRESET", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT", "57P01", "57P02", "57P03", "53300", "08006", "08001"]) {
    expect(isDatabaseUnavailable(withCode(code))).toBe(true);
  }
  const query = new DrizzleQueryError("select 1", [], withCode("ECONNREFUSED"));
  expect(isDatabaseUnavailable(query)).toBe(true);
  // Elysia wraps errors thrown while parsing a body in its ParseError (cause).
  expect(isDatabaseUnavailable(new Error("Bad Request", { cause: query }))).toBe(true);
  expect(isDatabaseUnavailable(new Error("PGlite is closed"))).toBe(true);
});

test("query errors and everything else are not", () => {
  expect(isDatabaseUnavailable(withCode("23505", "duplicate key value violates unique constraint"))).toBe(false);
  expect(isDatabaseUnavailable(new DrizzleQueryError("select 1", [], withCode("42P01")))).toBe(false);
  expect(isDatabaseUnavailable(new Error("boom"))).toBe(false);
  expect(isDatabaseUnavailable(undefined)).toBe(false);
  expect(isDatabaseUnavailable("ECONNREFUSED")).toBe(false);
});
