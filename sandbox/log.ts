// JSON lines on stdout (read with `podman logs`), tagged with the session id.
export interface SandboxLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function sandboxLog(sessionId: string, quiet = false): SandboxLog {
  const emit = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    if (quiet && level === "info") return;
    process.stdout.write(JSON.stringify({ time: new Date().toISOString(), level, msg, sessionId, ...fields }) + "\n");
  };
  return { info: emit("info"), warn: emit("warn"), error: emit("error") };
}
