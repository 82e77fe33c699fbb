// Where media files live: content-addressed by the sha256 of their bytes, so a file is stored
// once however many messages carry it. A file is written to a temporary name while it is hashed
// and counted, and renamed into place only once whole and within the limit: a crash never leaves
// half a file under a name that says it is whole. Bytes stream through; none is held whole.
import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { once } from "node:events";
import { runtime } from "../platform/runtime";
import { CollectHint } from "./gc-hint";

export class MediaTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`the file is larger than ${limit} bytes`);
  }
}

/** A file's bytes as a Response takes them: a stream, or (on Bun) the file itself, which Bun sends from the disk. */
export type FileBody = ReadableStream<Uint8Array> | Blob;

export interface StoredFile {
  sha256: string;
  size: number;
}

/** The seam: files under DATA_DIR/media by default; another store (an object store) fits behind it. */
export interface MediaStore {
  /** Stores what the stream holds, stopping past `limit` bytes (MediaTooLarge, nothing kept). */
  put(bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, limit: number): Promise<StoredFile>;
  /** The file's size, or null when it is not stored. */
  size(sha256: string): number | null;
  /** The bytes from `start` to `end` (inclusive), as a response body: streamed, never read whole. */
  read(sha256: string, start?: number, end?: number): FileBody;
  remove(sha256: string): Promise<void>;
  /** A local path a tool (sharp, ffmpeg) can read the stored file at. */
  localPath(sha256: string): string;
  /** Where a file later handed to `adopt` is best written (the store's own file system). */
  readonly uploadDir: string;
  /** Takes in a whole file already written and hashed (a form's file part), moved rather than copied where it can be. */
  adopt(path: string, file: StoredFile): Promise<void>;
}

export class FileMediaStore implements MediaStore {
  private readonly tmp: string;
  readonly uploadDir: string;

  /** `node`: nodes sharing the folder (MEDIA_DIR) each half-write in their own, and clear only their own at start. */
  constructor(
    private readonly dir: string,
    node?: string,
  ) {
    this.tmp = node ? join(dir, "tmp", node) : join(dir, "tmp");
    this.uploadDir = this.tmp;
    mkdirSync(this.tmp, { recursive: true, mode: 0o700 });
    // What a crash left half-written.
    for (const name of readdirSync(this.tmp)) rmSync(join(this.tmp, name), { recursive: true, force: true });
  }

  async put(bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, limit: number): Promise<StoredFile> {
    const tmpPath = join(this.tmp, randomUUID());
    const out = createWriteStream(tmpPath, { mode: 0o600 });
    // Heard here: a write still in flight when the stream is destroyed (a file refused half-way)
    // errors after the fact, and an unheard stream error would take the process down.
    let failure: Error | null = null;
    out.on("error", (err) => (failure ??= err));
    const hash = createHash("sha256");
    let size = 0;
    const collector = new CollectHint();
    try {
      for await (const chunk of bytes) {
        size += chunk.byteLength;
        collector.count(chunk.byteLength);
        if (size > limit) throw new MediaTooLarge(limit);
        if (failure) throw failure;
        hash.update(chunk);
        // Waits for the disk when the stream's buffer is full, so memory stays bounded (an error rejects).
        if (!out.write(chunk)) await once(out, "drain");
      }
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      const sha256 = hash.digest("hex");
      const path = this.path(sha256);
      mkdirSync(join(this.dir, sha256.slice(0, 2)), { recursive: true, mode: 0o700 });
      await rename(tmpPath, path);
      return { sha256, size };
    } catch (err) {
      out.destroy();
      await rm(tmpPath, { force: true });
      throw err;
    }
  }

  size(sha256: string): number | null {
    try {
      return statSync(this.path(sha256)).size;
    } catch {
      return null;
    }
  }

  read(sha256: string, start?: number, end?: number): FileBody {
    // Bun serves a file body with sendfile: no chunk passes through the heap (a Node stream of
    // 16 MiB grew the process by about 30 MiB of chunks not yet collected).
    if (runtime === "bun") {
      const file = Bun.file(this.path(sha256));
      return start === undefined && end === undefined ? file : file.slice(start ?? 0, end === undefined ? undefined : end + 1);
    }
    return Readable.toWeb(createReadStream(this.path(sha256), { start, end })) as unknown as ReadableStream<Uint8Array>;
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.path(sha256), { force: true });
  }

  async adopt(path: string, file: StoredFile): Promise<void> {
    const target = this.path(file.sha256);
    mkdirSync(join(this.dir, file.sha256.slice(0, 2)), { recursive: true, mode: 0o700 });
    try {
      await rename(path, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
      // Another file system: copied through put, which checks the hash again.
      const copied = await this.put(createReadStream(path), file.size);
      if (copied.sha256 !== file.sha256) throw new Error("the adopted file changed while it was copied");
    }
  }

  localPath(sha256: string): string {
    return this.path(sha256);
  }

  private path(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error("not a sha256");
    return join(this.dir, sha256.slice(0, 2), sha256);
  }
}
