// JSON-line logs on stderr (stdout's first line belongs to the startup JSON), quiet by default.
export interface EmulatorLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

const levels = { debug: 10, info: 20, warn: 30, silent: 99 } as const;
export type EmulatorLogLevel = keyof typeof levels;

export function emulatorLog(level: EmulatorLogLevel = "warn"): EmulatorLog {
  const min = levels[level] ?? levels.warn;
  const emit = (lvl: "debug" | "info" | "warn") => (msg: string, fields?: Record<string, unknown>) => {
    if (levels[lvl] < min) return;
    process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, component: "wa-emulator", ...fields }) + "\n");
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn") };
}
