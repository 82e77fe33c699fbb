// One JSON object per line on stdout. Keys never reach a log: fields whose name suggests a
// secret are masked, and any string that looks like one of our keys or a JWT is masked too.
// Query parameters never reach a log either (a failed query's parameters hold key hashes and
// whole contact lists), and every line is bounded: long strings and arrays are cut, and a line
// still too long keeps only its message.
import type { LogLevel } from "./config";

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const secretField = /key|token|secret|password|authorization|^params$|^parameters$/i;
const secretValue = /\b(wask|wamk)_[0-9a-f]{8,}|\beyJ[\w-]+\.[\w-]+\.[\w-]*/g;
/** Drizzle's failed-query message ends with "\nparams: <values>"; the values run to its end. */
const queryParams = /(^|\s)params:\s[\s\S]*$/;

export const MAX_LOG_STRING = 1000;
export const MAX_LOG_ARRAY = 20;
export const MAX_LOG_LINE = 8 * 1024;
const MAX_CAUSES = 4;

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
  /** Whether records of this level are written (to skip building them when not). */
  enabled(level: LogLevel): boolean;
}

export interface ErrorDescription {
  type: string;
  code?: string;
  message: string;
  cause?: ErrorDescription;
}

/** A string without query parameters, secrets, or more than `max` characters. */
export function cleanString(value: string, max = MAX_LOG_STRING): string {
  let s = value.replace(queryParams, "$1[query parameters omitted]").replace(secretValue, "[redacted]");
  if (s.length > max) s = `${s.slice(0, max)}…[truncated ${s.length - max} chars]`;
  return s;
}

/**
 * What an error is, fit for a log: its class, code and message (without query parameters,
 * bounded), and the same of its causes. Never the error's other fields (a failed query carries
 * its parameters; a Postgres error's `detail` carries row values).
 */
export function describeError(err: unknown, depth = 0): ErrorDescription {
  if (!(err instanceof Error)) {
    return { type: typeof err, message: cleanString(typeof err === "string" ? err : safeString(err)) };
  }
  const code = (err as { code?: unknown }).code;
  const out: ErrorDescription = { type: err.constructor?.name || err.name, message: cleanString(err.message) };
  if (err.name && err.name !== out.type && err.name !== "Error") out.type = `${out.type} (${err.name})`;
  if (typeof code === "string" || typeof code === "number") out.code = String(code);
  if (err.cause !== undefined && err.cause !== null && depth < MAX_CAUSES) out.cause = describeError(err.cause, depth + 1);
  return out;
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return "[unprintable]";
  }
}

interface Limits {
  string: number;
  array: number;
}

function scrub(value: unknown, limits: Limits, depth = 0): unknown {
  if (typeof value === "string") return cleanString(value, limits.string);
  if (value instanceof Error) return describeError(value);
  if (typeof value === "bigint") return value.toString();
  if (value === null || typeof value !== "object") return value;
  if (depth > 4) return "[nested too deep]";
  if (Array.isArray(value)) {
    const kept = value.slice(0, limits.array).map((v) => scrub(v, limits, depth + 1));
    if (value.length > limits.array) kept.push(`…[${value.length - limits.array} more of ${value.length}]`);
    return kept;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = secretField.test(k) && v !== null && v !== undefined && typeof v !== "boolean" ? "[redacted]" : scrub(v, limits, depth + 1);
  }
  return out;
}

/** The record as one JSON line of at most MAX_LOG_LINE bytes. */
export function formatRecord(record: LogFields): string {
  let line = JSON.stringify(scrub(record, { string: MAX_LOG_STRING, array: MAX_LOG_ARRAY }));
  if (Buffer.byteLength(line) <= MAX_LOG_LINE) return line;
  line = JSON.stringify({ ...(scrub(record, { string: 200, array: 5 }) as LogFields), truncated: true });
  if (Buffer.byteLength(line) <= MAX_LOG_LINE) return line;
  // Many fields: keep what says what happened, and the names of what was dropped.
  const { time, level, msg } = record;
  return JSON.stringify({
    time,
    level,
    msg: cleanString(String(msg), 500),
    truncated: true,
    droppedFields: Object.keys(record).filter((k) => !["time", "level", "msg"].includes(k)).slice(0, 50).map((k) => cleanString(k, 50)),
  });
}

export function createLogger(
  level: LogLevel = "info",
  base: LogFields = {},
  write: (line: string) => void = (line) => process.stdout.write(line + "\n"),
): Logger {
  const min = order[level];
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (order[lvl] < min) return;
    write(formatRecord({ time: new Date().toISOString(), level: lvl, msg, ...base, ...fields }));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger(level, { ...base, ...fields }, write),
    enabled: (lvl) => order[lvl] >= min,
  };
}

export const silentLogger: Logger = createLogger("error", {}, () => {});
