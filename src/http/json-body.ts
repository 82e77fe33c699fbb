// Reads a JSON body ourselves so the answers are ours: 415 for a body that is not JSON, 413 past
// the size limit (checked while reading, not trusted from Content-Length alone), 400 for JSON
// that does not parse.
import { ApiError } from "./errors";

export const MAX_BODY_BYTES = 1024 * 1024;

export async function readJsonBody(request: Request, limit = MAX_BODY_BYTES): Promise<unknown> {
  const type = request.headers.get("content-type") ?? "";
  const mediaType = type.split(";")[0]!.trim().toLowerCase();
  if (mediaType !== "application/json" && !/^application\/[\w.+-]+\+json$/.test(mediaType)) {
    throw new ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "The body must be JSON, sent with Content-Type: application/json");
  }
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) throw tooLarge(limit);
  const text = await readLimited(request, limit);
  if (text.trim() === "") throw new ApiError(400, "INVALID_JSON", "The request body is empty; a JSON object is required");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, "INVALID_JSON", `The request body is not valid JSON: ${(err as Error).message}`);
  }
}

async function readLimited(request: Request, limit: number): Promise<string> {
  if (!request.body) return "";
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
  return new TextDecoder().decode(Buffer.concat(chunks));
}

function tooLarge(limit: number): ApiError {
  return new ApiError(413, "PAYLOAD_TOO_LARGE", `The request body is larger than ${limit} bytes`);
}
