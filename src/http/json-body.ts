// Reads a JSON body ourselves so the answers are ours: 415 for a body that is not JSON, 413 past
// the size limit (checked while reading, not trusted from Content-Length alone), 400 for JSON
// that does not parse, and 400 for JSON nested deeper than any request needs (a 50,000-deep
// body overflowed the stack; an 8,000-deep one was stored), found before JSON.parse runs. Text
// is taken as sent or not at all: invalid UTF-8, or a lone surrogate escaped in a string, is a
// 400 naming the field, never stored with replacement characters.
import { ApiError, errors } from "./errors";

export const MAX_BODY_BYTES = 1024 * 1024;
/**
 * Bun.serve's own limit. Past it Bun answers a bare 413 (no body, before any route runs, so
 * before authentication) as soon as Content-Length says so; below it bodies stream to us and
 * readJsonBody answers 413 in our shape after the caller is known. Bun does not buffer a body
 * nobody reads (it drains it), so the limit only bounds how long a connection may be kept busy.
 */
export const SERVER_MAX_BODY_BYTES = 1024 * 1024 * 1024;
/** Deepest nesting of objects and arrays a request body may have. */
export const MAX_JSON_DEPTH = 32;

/** A body of at most MAX_BODY_BYTES (a send's, with its file, is read by json-media-body.ts). */
export async function readJsonBody(request: Request): Promise<unknown> {
  checkJsonType(request);
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge(MAX_BODY_BYTES);
  return parseJsonBytes(await readLimited(request, MAX_BODY_BYTES));
}

/** 415 unless the request says its body is JSON. */
export function checkJsonType(request: Request): void {
  const type = request.headers.get("content-type") ?? "";
  const mediaType = type.split(";")[0]!.trim().toLowerCase();
  if (mediaType !== "application/json" && !/^application\/[\w.+-]+\+json$/.test(mediaType)) {
    throw new ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "The body must be JSON, sent with Content-Type: application/json");
  }
}

/** A whole body's bytes as JSON, with this module's answers for what is not. */
export function parseJsonBytes(bytes: Uint8Array): unknown {
  let utf8 = true;
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    utf8 = false;
    text = new TextDecoder().decode(bytes);
  }
  if (text.trim() === "") throw new ApiError(400, "INVALID_JSON", "The request body is empty; a JSON object is required");
  if (jsonTextDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw tooDeep();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, "INVALID_JSON", `The request body is not valid JSON: ${(err as Error).message}`);
  }
  if (!utf8) {
    // Decoded leniently only to say where: the replacement character marks the bytes.
    throw errors.validation(textField(value, (s) => s.includes("\uFFFD")) ?? "body", "is not valid UTF-8");
  }
  const surrogate = textField(value, (s) => !s.isWellFormed());
  if (surrogate !== null) throw errors.validation(surrogate, "holds a lone surrogate (not valid Unicode text)");
  return value;
}

export function tooDeep(): ApiError {
  return new ApiError(400, "INVALID_JSON", `The request body is nested deeper than ${MAX_JSON_DEPTH} levels of objects and arrays`);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The body's field (its top-level key) holding the first key or string that `bad` picks, "body"
 * when the body itself is such a string, or null when there is none; without recursion.
 */
export function textField(value: unknown, bad: (s: string) => boolean): string | null {
  const top = value !== null && typeof value === "object" && !Array.isArray(value) ? Object.entries(value) : [["body", value] as const];
  for (const [field, child] of top) {
    if (bad(field)) return field;
    const stack: unknown[] = [child];
    while (stack.length > 0) {
      const current = stack.pop();
      if (typeof current === "string") {
        if (bad(current)) return field;
      } else if (Array.isArray(current)) {
        for (const item of current) stack.push(item);
      } else if (current !== null && typeof current === "object") {
        for (const [key, v] of Object.entries(current)) {
          if (bad(key)) return field;
          stack.push(v);
        }
      }
    }
  }
  return null;
}

async function readLimited(request: Request, limit: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

export function tooLarge(limit: number): ApiError {
  return new ApiError(413, "PAYLOAD_TOO_LARGE", `The request body is larger than ${limit} bytes`);
}

/**
 * How deeply objects and arrays nest in JSON text, counting brackets outside strings; the scan
 * stops once past `stopAbove`. Malformed text is left to JSON.parse to refuse.
 */
export function jsonTextDepth(text: string, stopAbove = Infinity): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > stopAbove) return deepest;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

/**
 * How deeply objects and arrays nest in a parsed value (a scalar is 0, `{}` is 1), without
 * recursion; the walk stops once past `stopAbove`. Routes use it to bound fields such as metadata.
 */
export function jsonDepth(value: unknown, stopAbove = Infinity): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, level] = stack.pop()!;
    if (current === null || typeof current !== "object") continue;
    if (level > deepest) {
      deepest = level;
      if (deepest > stopAbove) return deepest;
    }
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (child !== null && typeof child === "object") stack.push([child, level + 1]);
    }
  }
  return deepest;
}
