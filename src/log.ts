// One JSON object per line on stdout. Keys never reach a log: fields whose name suggests a
// secret are masked, and any string that looks like one of our keys or a JWT is masked too.
import type { LogLevel } from "./config";

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const secretField = /key|token|secret|password|authorization/i;
const secretValue = /\b(wask|wamk)_[0-9a-f]{8,}|\beyJ[\w-]+\.[\w-]+\.[\w-]*/g;

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

function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return value.replace(secretValue, "[redacted]");
  if (value instanceof Error) return { name: value.name, message: scrub(value.message) };
  if (depth > 4 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = secretField.test(k) && v !== null && v !== undefined && typeof v !== "boolean" ? "[redacted]" : scrub(v, depth + 1);
  }
  return out;
}

export function createLogger(
  level: LogLevel = "info",
  base: LogFields = {},
  write: (line: string) => void = (line) => process.stdout.write(line + "\n"),
): Logger {
  const min = order[level];
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (order[lvl] < min) return;
    const record = { time: new Date().toISOString(), level: lvl, msg, ...base, ...fields };
    write(JSON.stringify(scrub(record)));
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
