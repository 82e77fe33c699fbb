// The logger Baileys is given: the part of pino's interface Baileys uses (its ILogger: `level`,
// `child`, and one method per level), writing pino-shaped JSON lines to stdout. The sandbox build
// also puts this module in place of the `pino` package itself (see sandbox/image/build.ts), which
// Baileys imports only to make a default logger; pino and its stream and worker modules held
// about 0.5 MiB of every sandbox's memory. Silent by default; BAILEYS_LOG_LEVEL turns it on.

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
type LevelName = keyof typeof LEVELS;

export interface BaileysLogger {
  level: string;
  child(bindings: Record<string, unknown>): BaileysLogger;
  trace(obj: unknown, msg?: string): void;
  debug(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
  fatal(obj: unknown, msg?: string): void;
}

function serializeError(err: Error): Record<string, unknown> {
  return { type: err.name, message: err.message, stack: err.stack };
}

function fields(obj: unknown, msg: string | undefined): Record<string, unknown> {
  if (typeof obj === "string") return { msg: obj };
  if (obj instanceof Error) return { err: serializeError(obj), msg: msg ?? obj.message };
  if (obj && typeof obj === "object") {
    const out: Record<string, unknown> = { ...(obj as Record<string, unknown>) };
    if (out.err instanceof Error) out.err = serializeError(out.err);
    if (msg !== undefined) out.msg = msg;
    return out;
  }
  return msg === undefined ? { value: obj } : { value: obj, msg };
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  return value;
}

class Logger implements BaileysLogger {
  private threshold: number;

  constructor(
    private name: string,
    private readonly bindings: Record<string, unknown>,
  ) {
    this.threshold = name in LEVELS ? LEVELS[name as LevelName] : Infinity; // "silent" or unknown
  }

  get level(): string {
    return this.name;
  }

  set level(name: string) {
    this.name = name;
    this.threshold = name in LEVELS ? LEVELS[name as LevelName] : Infinity;
  }

  child(bindings: Record<string, unknown>): BaileysLogger {
    return new Logger(this.name, { ...this.bindings, ...bindings });
  }

  private write(level: LevelName, obj: unknown, msg: string | undefined): void {
    if (LEVELS[level] < this.threshold) return;
    let line: string;
    try {
      line = JSON.stringify({ level: LEVELS[level], time: Date.now(), ...this.bindings, ...fields(obj, msg) }, replacer);
    } catch {
      line = JSON.stringify({ level: LEVELS[level], time: Date.now(), msg: msg ?? "(unserializable log entry)" });
    }
    process.stdout.write(line + "\n");
  }

  trace(obj: unknown, msg?: string): void {
    this.write("trace", obj, msg);
  }
  debug(obj: unknown, msg?: string): void {
    this.write("debug", obj, msg);
  }
  info(obj: unknown, msg?: string): void {
    this.write("info", obj, msg);
  }
  warn(obj: unknown, msg?: string): void {
    this.write("warn", obj, msg);
  }
  error(obj: unknown, msg?: string): void {
    this.write("error", obj, msg);
  }
  fatal(obj: unknown, msg?: string): void {
    this.write("fatal", obj, msg);
  }
}

/** Called like `pino(options)`; only `level` is read (pino's default level is "info"). */
export default function baileysLogger(options?: { level?: string }): BaileysLogger {
  return new Logger(options?.level ?? "info", {});
}
