// What the integration tests need from the machine, set up by scripts/test.sh. A missing piece
// fails loudly with the command that provides it, rather than skipping tests.

export function requireEnv(name: "PODMAN_SOCKET" | "PODMAN_SOCKET_2" | "TEST_DATABASE_URL"): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the suite with 'bash scripts/test.sh' (it starts Podman and PostgreSQL)`);
  }
  return value;
}

export async function waitFor<T>(probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 10_000, what = "condition"): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await Bun.sleep(50);
  }
}
