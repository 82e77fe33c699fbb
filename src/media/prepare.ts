// What a file to send becomes before it goes: a voice note in Ogg Opus and a sticker in WebP
// (converted when given as another audio or image), and what WhatsApp shows before the
// download: an image's or a video's dimensions and JPEG thumbnail, an audio's or video's
// length. Images go through sharp (loaded when first needed), the rest through ffmpeg.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Ffmpeg } from "./ffmpeg";
import { ToolMissing } from "./ffmpeg";

/** A conversion this host cannot make (no ffmpeg, no sharp). */
export class ConversionUnavailable extends Error {}
/** The file is not what its kind needs it to be (sharp or ffmpeg cannot read it). */
export class Unreadable extends Error {}

export interface Description {
  width?: number;
  height?: number;
  seconds?: number;
  /** A small JPEG, base64, as WhatsApp clients show before the download. */
  thumbnail?: string;
}

/** Thumbnails fit this square, as WhatsApp's own are small previews. */
const THUMB = 96;
/**
 * The most pixels an image is decoded at (a client's file: a small PNG can claim 16k × 16k and
 * take a GiB to decode). Larger ones go without a thumbnail; as stickers they are refused.
 */
export const MAX_PIXELS = 40_000_000;
const STICKER = 512;

type Sharp = typeof import("sharp").default;
let sharpModule: Promise<Sharp | null> | undefined;
function loadSharp(): Promise<Sharp | null> {
  sharpModule ??= import("sharp").then((m) => (m.default ?? m) as unknown as Sharp, () => null);
  return sharpModule;
}

export class MediaPreparer {
  private readonly decode: { limitInputPixels: number; sequentialRead: true };

  constructor(
    private readonly tools: Ffmpeg,
    maxPixels = MAX_PIXELS,
  ) {
    this.decode = { limitInputPixels: maxPixels, sequentialRead: true };
  }

  /** Any audio as a mono Ogg Opus voice note, written to a temporary file the caller reads then removes. */
  async toVoice(input: string): Promise<TempFile> {
    const out = await TempFile.make("voice.ogg");
    try {
      await this.tools.ffmpeg(["-i", input, "-vn", "-map_metadata", "-1", "-ac", "1", "-c:a", "libopus", "-b:a", "32k", "-f", "ogg", "-y", out.path]);
      return out;
    } catch (err) {
      await out.remove();
      if (err instanceof ToolMissing) throw new ConversionUnavailable("ffmpeg is not installed on this host: only Ogg Opus can be sent as a voice note");
      throw new Unreadable(`the audio could not be converted (${(err as Error).message})`);
    }
  }

  /** An image as a 512×512 WebP sticker (its aspect kept, the rest transparent). */
  async toSticker(input: string): Promise<Buffer> {
    const sharp = await loadSharp();
    if (!sharp) throw new ConversionUnavailable("sharp is not installed: only WebP can be sent as a sticker");
    try {
      return await sharp(input, this.decode).rotate().resize(STICKER, STICKER, { fit: "contain", background: { r: 0, g: 0, b: 0, alpha: 0 } }).webp().toBuffer();
    } catch (err) {
      throw new Unreadable(`the image could not be read (${(err as Error).message})`);
    }
  }

  /** Dimensions, length and thumbnail, as far as this host can tell; an image sharp cannot read is Unreadable. */
  async describe(type: string, path: string): Promise<Description> {
    if (type === "image") return this.image(path);
    if (type === "video" || type === "audio" || type === "voice") {
      const probed = await this.tools.probe(path).catch(() => ({}) as Description);
      if (type !== "video") return probed.seconds ? { seconds: probed.seconds } : {};
      const thumbnail = await this.videoFrame(path);
      return { ...probed, ...(thumbnail ? { thumbnail } : {}) };
    }
    return {};
  }

  private async image(path: string): Promise<Description> {
    const sharp = await loadSharp();
    if (!sharp) return {};
    let meta;
    try {
      meta = await sharp(path).metadata();
    } catch (err) {
      throw new Unreadable(`the image could not be read (${(err as Error).message})`);
    }
    // EXIF orientations 5 to 8 turn the picture a quarter: WhatsApp shows it upright.
    const turned = (meta.orientation ?? 1) >= 5;
    const size = { width: turned ? meta.height : meta.width, height: turned ? meta.width : meta.height };
    // A picture whose header reads but whose pixels do not still goes, without a preview.
    const thumb = await sharp(path, this.decode).rotate().resize(THUMB, THUMB, { fit: "inside" }).jpeg({ quality: 60 }).toBuffer().catch(() => null);
    return { ...size, ...(thumb ? { thumbnail: thumb.toString("base64") } : {}) };
  }

  private async videoFrame(path: string): Promise<string | undefined> {
    const frame = await this.tools
      .ffmpeg(["-i", path, "-frames:v", "1", "-vf", `scale=${THUMB}:${THUMB}:force_original_aspect_ratio=decrease`, "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "6", "-"])
      .catch(() => null);
    return frame && frame.length > 0 ? frame.toString("base64") : undefined;
  }
}

/** A file in a directory of its own under the system's temporary directory (or another). */
export class TempFile {
  private constructor(
    private readonly dir: string,
    readonly path: string,
  ) {}

  static async make(name: string, under = tmpdir()): Promise<TempFile> {
    const dir = await mkdtemp(join(under, "wa-upload-"));
    return new TempFile(dir, join(dir, name));
  }

  remove(): Promise<void> {
    return rm(this.dir, { recursive: true, force: true });
  }
}
