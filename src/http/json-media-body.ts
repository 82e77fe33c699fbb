// A send's JSON body read as it streams. Its `media.data` (base64 of up to MEDIA_MAX_BYTES) is
// decoded as it comes into a temporary file beside the media store, hashed on the way and
// stopped past the limit, so a 64 MiB file never sits in memory as 85 MiB of text, nor twice
// as text and bytes. Everything else is kept (bounded like any JSON body) with `""` in the
// file's place and parsed by json-body.ts, so its answers are the same as for any route.
// Quotes and backslashes are ASCII and never inside a UTF-8 sequence, so bytes are scanned as is.
import { createHash, type Hash } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { CollectHint } from "../media/gc-hint";
import { TempFile } from "../media/prepare";
import { ApiError, errors } from "./errors";
import { checkJsonType, MAX_BODY_BYTES, MAX_JSON_DEPTH, parseJsonBytes, tooDeep, tooLarge } from "./json-body";
import { keepRequestFile, type RequestFile } from "./request-file";

export interface JsonMediaLimits {
  /** MEDIA_MAX_BYTES: the decoded file's limit. */
  fileLimit: number;
  /** The body's limit as sent (the file as base64 and the rest), checked against Content-Length first. */
  bodyLimit: number;
  fileTooLarge: (limit: number) => ApiError;
  /** Where the file is written (the media store's file system, so it is moved in, not copied). */
  dir?: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
/** Keys are compared only when this short: the ones looked for are "media" and "data". */
const MAX_KEY_BYTES = 64;

/** The body, with `media.data` moved to a file kept with the request (request-file.ts). */
export async function readJsonMediaBody(request: Request, limits: JsonMediaLimits): Promise<unknown> {
  checkJsonType(request);
  if (Number(request.headers.get("content-length") ?? "0") > limits.bodyLimit) throw limits.fileTooLarge(limits.fileLimit);
  const scanner = new Scanner(limits);
  const reader = request.body?.getReader();
  try {
    if (reader) {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await scanner.push(value);
      }
    }
    const file = await scanner.end();
    const body = parseJsonBytes(Buffer.concat(scanner.rest));
    if (file) {
      // The placeholder is where the file was, unless a later `media` replaced that object.
      const media = (body as { media?: unknown }).media;
      if (typeof media !== "object" || media === null || (media as { data?: unknown }).data !== "") throw errors.validation("media", "is given twice");
      delete (media as { data?: unknown }).data; // the file is the request's
      if (Object.keys(media).length === 0) delete (body as { media?: unknown }).media;
      keepRequestFile(request, file);
    }
    return body;
  } catch (err) {
    await reader?.cancel().catch(() => {}); // nothing more is read after a refusal
    await scanner.discard();
    throw err;
  }
}

/** Follows the body's structure just enough to find `media.data` at the top level's `media` object. */
class Scanner {
  readonly rest: Uint8Array[] = [];
  private restSize = 0;
  /** Open objects (`{`) and arrays (`[`). */
  private readonly stack: number[] = [];
  /** The latest key read at each depth. */
  private readonly keys: (string | null)[] = [];
  private inString = false;
  private escaped = false;
  private key: number[] | null = [];
  /** The last string read outside `media.data`, while it may still turn out to be a key. */
  private lastString: string | null = null;
  /** The last byte outside strings and whitespace. */
  private prev = 0;
  private file: Base64File | null = null;
  private spilling = false;
  private spilled = false;
  private readonly collector = new CollectHint();
  private spillEscaped = false;

  constructor(private readonly limits: JsonMediaLimits) {}

  async push(chunk: Uint8Array): Promise<void> {
    this.collector.count(chunk.length);
    let i = 0;
    while (i < chunk.length) {
      if (this.spilling) i = await this.spill(chunk, i);
      else i = this.scan(chunk, i);
    }
  }

  async end(): Promise<RequestFile | null> {
    if (this.spilling) throw new ApiError(400, "INVALID_JSON", "The request body is not valid JSON: it ends inside media.data");
    return this.file ? this.file.finish() : null;
  }

  async discard(): Promise<void> {
    await this.file?.discard();
  }

  /** Structure outside `media.data`: copies bytes to the kept rest up to where the file starts. */
  private scan(chunk: Uint8Array, from: number): number {
    for (let i = from; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) {
          this.inString = false;
          this.lastString = this.key ? decodeKey(this.key) : null;
          this.prev = QUOTE;
          continue;
        }
        if (this.key) {
          if (this.key.length < MAX_KEY_BYTES) this.key.push(c);
          else this.key = null;
        }
        continue;
      }
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
      if (c === QUOTE) {
        if (this.prev === COLON && this.atMediaData()) {
          if (this.spilled) throw errors.validation("media.data", "is given twice");
          this.spilled = true;
          this.keep(chunk.subarray(from, i));
          this.keep(Buffer.from('""'));
          this.spilling = true;
          return i + 1;
        }
        this.inString = true;
        this.key = [];
        continue;
      }
      if (c === COLON && this.prev === QUOTE) this.keys[this.stack.length] = this.lastString;
      else if (c === 0x7b || c === 0x5b) {
        if (this.stack.length >= MAX_JSON_DEPTH) throw tooDeep();
        this.stack.push(c);
        this.keys[this.stack.length] = null;
      } else if (c === 0x7d || c === 0x5d) this.stack.pop();
      this.prev = c;
    }
    this.keep(chunk.subarray(from));
    return chunk.length;
  }

  private atMediaData(): boolean {
    return this.stack.length === 2 && this.stack[0] === 0x7b && this.stack[1] === 0x7b && this.keys[1] === "media" && this.keys[2] === "data";
  }

  /** Inside `media.data`: base64 to the file up to the closing quote. */
  private async spill(chunk: Uint8Array, from: number): Promise<number> {
    this.file ??= await Base64File.open(this.limits);
    let i = from;
    if (this.spillEscaped) {
      // JSON may escape a slash (`\/`); no other escape is base64.
      this.spillEscaped = false;
      if (chunk[i] !== 0x2f) throw notBase64();
      await this.file.write(chunk.subarray(i, i + 1));
      i++;
    }
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (;;) {
      const quote = bytes.indexOf(QUOTE, i);
      const slash = bytes.indexOf(BACKSLASH, i);
      const stop = slash !== -1 && (quote === -1 || slash < quote) ? slash : quote;
      if (stop === -1) {
        await this.file.write(bytes.subarray(i));
        return chunk.length;
      }
      await this.file.write(bytes.subarray(i, stop));
      if (stop === quote) {
        this.spilling = false;
        this.prev = QUOTE;
        this.lastString = null;
        return stop + 1;
      }
      if (stop + 1 >= bytes.length) {
        this.spillEscaped = true;
        return bytes.length;
      }
      if (bytes[stop + 1] !== 0x2f) throw notBase64();
      await this.file.write(bytes.subarray(stop + 1, stop + 2));
      i = stop + 2;
    }
  }

  private keep(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.restSize += bytes.length;
    if (this.restSize > MAX_BODY_BYTES) throw tooLarge(MAX_BODY_BYTES);
    this.rest.push(bytes.slice());
  }
}

function decodeKey(raw: number[]): string | null {
  try {
    return JSON.parse(`"${Buffer.from(raw).toString("utf8")}"`) as string;
  } catch {
    return null; // the whole body's parse says what is wrong
  }
}

function notBase64(): ApiError {
  return errors.validation("media.data", "is not base64");
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const SEXTET = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) SEXTET[ALPHABET.charCodeAt(i)] = i;
const PAD = 0x3d;

/**
 * Base64 decoded into a temporary file as it comes, hashed, stopped past the limit. Decoded by
 * table into one reused buffer, written before the next chunk: a 64 MiB file leaves no strings
 * or buffers behind (decoding through strings grew the API by about 60 MiB of garbage).
 */
class Base64File {
  private acc = 0;
  private count = 0;
  private padding = 0;
  private size = 0;
  private out = Buffer.alloc(48 * 1024);
  private readonly hash: Hash = createHash("sha256");

  private constructor(
    private readonly tmp: TempFile,
    private readonly handle: FileHandle,
    private readonly limits: JsonMediaLimits,
  ) {}

  static async open(limits: JsonMediaLimits): Promise<Base64File> {
    const tmp = await TempFile.make("upload", limits.dir);
    return new Base64File(tmp, await open(tmp.path, "wx", 0o600), limits);
  }

  /** Base64 characters (ASCII bytes); whole groups of four are decoded, the rest carried. */
  async write(text: Uint8Array): Promise<void> {
    const need = Math.ceil(text.length / 4) * 3 + 3;
    if (this.out.length < need) this.out = Buffer.alloc(need);
    const out = this.out;
    let o = 0;
    let { acc, count } = this;
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      const v = SEXTET[c]!;
      if (v < 0 || this.padding > 0) {
        // Padding only at the end, at most two, where a group falls short.
        if (c !== PAD || count < 2 || ++this.padding > 4 - count) throw notBase64();
        continue;
      }
      acc = (acc << 6) | v;
      if (++count === 4) {
        out[o++] = (acc >> 16) & 0xff;
        out[o++] = (acc >> 8) & 0xff;
        out[o++] = acc & 0xff;
        acc = 0;
        count = 0;
      }
    }
    this.acc = acc;
    this.count = count;
    await this.emit(o);
  }

  async finish(): Promise<RequestFile> {
    // A group of two or three characters holds one or two bytes (with or without its padding).
    if (this.count === 1) throw notBase64();
    if (this.count === 2) this.out[0] = (this.acc >> 4) & 0xff;
    if (this.count === 3) {
      this.out[0] = (this.acc >> 10) & 0xff;
      this.out[1] = (this.acc >> 2) & 0xff;
    }
    await this.emit(Math.max(0, this.count - 1));
    await this.handle.close();
    const tmp = this.tmp;
    return { path: tmp.path, size: this.size, contentType: null, fileName: null, sha256: this.hash.digest("hex"), field: "media.data", remove: () => tmp.remove() };
  }

  async discard(): Promise<void> {
    await this.handle.close().catch(() => {});
    await this.tmp.remove();
  }

  private async emit(length: number): Promise<void> {
    if (length === 0) return;
    this.size += length;
    if (this.size > this.limits.fileLimit) throw this.limits.fileTooLarge(this.limits.fileLimit);
    const bytes = this.out.subarray(0, length);
    this.hash.update(bytes);
    // Written whole before the buffer is used again.
    for (let at = 0; at < length; ) at += (await this.handle.write(bytes, at, length - at)).bytesWritten;
  }
}
