// Media for the tests, made on the spot by the host's ffmpeg (scripts/test.sh installs it).
import { expect } from "bun:test";

/** What ffmpeg writes to its stdout for these arguments (a WAV, an MP4, …). */
export async function ffmpegOut(args: string[]): Promise<Buffer> {
  const run = Bun.spawn(["ffmpeg", "-v", "error", ...args, "-"], { stdout: "pipe", stderr: "inherit" });
  const out = Buffer.from(await new Response(run.stdout).arrayBuffer());
  expect(await run.exited).toBe(0);
  return out;
}
