// ffmpeg and ffprobe (Debian's package) as child processes: a file in, bytes or JSON out, killed
// past a deadline. FFMPEG_PATH names the binary (ffprobe is looked for beside it); where it is
// missing, callers say so (MEDIA_CONVERSION_UNAVAILABLE) or do without (no video thumbnail).
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";

export class ToolMissing extends Error {}
export class ToolFailed extends Error {}

const DEADLINE_MS = 60_000;
/** An ffprobe answer or a thumbnail is small; a conversion goes to a file, not to memory. */
const MAX_STDOUT = 4 * 1024 * 1024;

export interface Ffmpeg {
  /** ffmpeg with these arguments; its stdout. */
  ffmpeg(args: string[]): Promise<Buffer>;
  /** ffprobe's JSON of the file's first video stream (if any) and its format. */
  probe(path: string): Promise<{ width?: number; height?: number; seconds?: number }>;
}

export function ffmpegTools(binary: string): Ffmpeg {
  const probeBinary = binary.includes("/") ? join(dirname(binary), "ffprobe") : "ffprobe";
  return {
    ffmpeg: (args) => run(binary, ["-nostdin", "-hide_banner", "-v", "error", ...args]),
    async probe(path) {
      const out = await run(probeBinary, ["-v", "error", "-show_entries", "stream=codec_type,width,height:format=duration", "-of", "json", path]);
      const info = JSON.parse(out.toString()) as { streams?: { codec_type?: string; width?: number; height?: number }[]; format?: { duration?: string } };
      const video = info.streams?.find((s) => s.codec_type === "video" && s.width && s.height);
      const seconds = Number(info.format?.duration);
      return {
        ...(video ? { width: video.width, height: video.height } : {}),
        ...(Number.isFinite(seconds) && seconds > 0 ? { seconds: Math.max(1, Math.round(seconds)) } : {}),
      };
    },
  };
}

function run(binary: string, args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), DEADLINE_MS);
    child.stdout.on("data", (c: Buffer) => {
      outBytes += c.length;
      if (outBytes > MAX_STDOUT) child.kill("SIGKILL");
      else out.push(c);
    });
    child.stderr.on("data", (c: Buffer) => {
      if (err.length < 2000) err += c.toString();
    });
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === "ENOENT" ? new ToolMissing(`${binary} is not installed`) : e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new ToolFailed(`${binary.split("/").at(-1)} ${signal ? `was stopped (${signal})` : `failed`}: ${err.trim().split("\n").at(-1)?.slice(0, 200) ?? ""}`));
    });
  });
}
