// A send's JSON body read as it streams. Its `media.data` (base64 of up to MEDIA_MAX_BYTES) is
// decoded as it comes into a temporary file beside the media store, hashed on the way and
// stopped past the limit, so a 64 MiB file never sits in memory as 85 MiB of text, nor twice
// as text and bytes. Everything else is kept (bounded like any JSON body) with `""` in the
// file's place and parsed by json-body.ts, so its answers are the same as for any route.
// Quotes and backslashes are ASCII and never inside a UTF-8 sequence, so bytes are scanned as is.
import { createHash, type Hash } from "node:crypto";
import { createWriteStream, type WriteStream } from "node:fs";
import { once } from "node:events";
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
      keepRequestFile(request, file);
      const media = (body as { media: Record<string, unknown> }).media;
      delete media.data; // the placeholder: the file is the request's
      if (Object.keys(media).length === 0) delete (body as { media?: unknown }).media;
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
  private spillEscaped = false;

  constructor(private readonly limits: JsonMediaLimits) {}

  async push(chunk: Uint8Array): Promise<void> {
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

/** Base64 text decoded into a temporary file as it comes, hashed, stopped past the limit. */
class Base64File {
  private carry = "";
  private padding = 0;
  private size = 0;
  private readonly hash: Hash = createHash("sha256");

  private constructor(
    private readonly tmp: TempFile,
    private readonly out: WriteStream,
    private readonly limits: JsonMediaLimits,
  ) {}

  static async open(limits: JsonMediaLimits): Promise<Base64File> {
    const tmp = await TempFile.make("upload", limits.dir);
    const out = createWriteStream(tmp.path, { mode: 0o600 });
    out.on("error", () => {}); // a failed write is seen where it is awaited
    return new Base64File(tmp, out, limits);
  }

  /** Base64 characters (ASCII bytes); whole groups of four are decoded, the rest carried. */
  async write(text: Uint8Array): Promise<void> {
    if (text.length === 0) return;
    const chars = Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString("latin1");
    const pad = chars.indexOf("=");
    if (this.padding > 0 || pad !== -1) {
      // Padding only at the end, at most two.
      const tail = pad === -1 ? chars : chars.slice(pad);
      if ((this.padding > 0 && pad !== 0) || !/^=*$/.test(tail)) throw notBase64();
      this.padding += tail.length;
      if (this.padding > 2) throw notBase64();
    }
    const body = pad === -1 ? chars : chars.slice(0, pad);
    if (!/^[A-Za-z0-9+/]*$/.test(body)) throw notBase64();
    const all = this.carry + body;
    const whole = all.length - (all.length % 4);
    this.carry = all.slice(whole);
    if (whole > 0) await this.emit(Buffer.from(all.slice(0, whole), "base64"));
  }

  async finish(): Promise<RequestFile> {
    if (this.carry.length === 1) throw notBase64();
    if (this.carry.length > 0) await this.emit(Buffer.from(this.carry, "base64"));
    this.carry = "";
    this.out.end();
    await once(this.out, "finish");
    const tmp = this.tmp;
    return { path: tmp.path, size: this.size, contentType: null, fileName: null, sha256: this.hash.digest("hex"), field: "media.data", remove: () => tmp.remove() };
  }

  async discard(): Promise<void> {
    this.out.destroy();
    await this.tmp.remove();
  }

  private async emit(bytes: Buffer): Promise<void> {
    this.size += bytes.length;
    if (this.size > this.limits.fileLimit) throw this.limits.fileTooLarge(this.limits.fileLimit);
    this.hash.update(bytes);
    if (!this.out.write(bytes)) await once(this.out, "drain");
  }
}
