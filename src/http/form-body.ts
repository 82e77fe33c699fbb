// Reads a multipart/form-data body as it streams (busboy): its text fields, and its one `file`
// part written to a temporary file as it comes, stopped at the limit (413 without reading on).
// The part never sits whole in memory; the caller removes the file once the request is done
// (request-file.ts).
import busboy from "busboy";
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CollectHint } from "../media/gc-hint";
import { TempFile } from "../media/prepare";
import { ApiError, errors } from "./errors";
import { keepRequestFile, type RequestFile } from "./request-file";

export interface FormBody {
  fields: Record<string, string>;
  file: RequestFile | null;
}

/** A field's longest value (a caption is the longest field a send has). */
const MAX_FIELD_BYTES = 256 * 1024;
const MAX_FIELDS = 32;

export function isFormRequest(request: Request): boolean {
  return /^multipart\/form-data\s*(;|$)/i.test(request.headers.get("content-type") ?? "");
}

/** `dir`: where the file part is written (the media store's own file system, so it can be moved in, not copied). */
export async function readFormBody(request: Request, fileLimit: number, tooLarge: (limit: number) => ApiError, dir?: string): Promise<FormBody> {
  if (!request.body) throw errors.validation("file", "the form is empty");
  // A form is its file and a few short fields: one announced far past the limit is not read at all.
  if (Number(request.headers.get("content-length") ?? "0") > fileLimit + MAX_FIELDS * MAX_FIELD_BYTES) throw tooLarge(fileLimit);
  const source = Readable.fromWeb(request.body as never);
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { "content-type": request.headers.get("content-type") ?? "" },
      // busboy stops a file on reaching fileSize: one more byte lets a file of exactly the limit through.
      limits: { fileSize: fileLimit + 1, files: 1, fields: MAX_FIELDS, fieldSize: MAX_FIELD_BYTES, parts: MAX_FIELDS + 1 },
      defParamCharset: "utf8",
    });
  } catch (err) {
    throw new ApiError(400, "VALIDATION_ERROR", `The form cannot be read: ${(err as Error).message}`);
  }
  const fields: Record<string, string> = {};
  let file: RequestFile | null = null;
  let part: Readable | null = null;
  let failure: ApiError | null = null;
  const writes: Promise<void>[] = [];
  const fail = (err: ApiError) => {
    failure ??= err;
  };

  parser.on("field", (name, value, info) => {
    if (info.valueTruncated) return fail(errors.validation(name, `is longer than ${MAX_FIELD_BYTES} bytes`));
    if (name in fields) return fail(errors.validation(name, "is given twice"));
    fields[name] = value;
  });
  parser.on("file", (name, stream, info) => {
    if (name !== "file" || file) {
      stream.resume();
      return fail(errors.validation(name, name === "file" ? "only one file is sent at a time" : "unknown field: the form's file part is `file`"));
    }
    const kept: RequestFile = { path: "", size: 0, contentType: info.mimeType || null, fileName: info.filename || null, sha256: "", field: "file", remove: async () => {} };
    const hash = createHash("sha256");
    file = kept;
    part = stream;
    // Listened to now, not after the temporary file exists: a small limit is reached before that,
    // and the part's error when the request is cut there has its listener (the write says the rest).
    stream.on("error", () => {});
    stream.on("limit", () => {
      fail(tooLarge(fileLimit));
      source.destroy(); // nothing past the limit is read
    });
    writes.push(
      (async () => {
        const tmp = await TempFile.make("upload", dir);
        kept.path = tmp.path;
        kept.remove = () => tmp.remove();
        const collector = new CollectHint();
        stream.on("data", (chunk: Buffer) => {
          collector.count(chunk.length);
          kept.size += chunk.length;
          hash.update(chunk);
        });
        await pipeline(stream, createWriteStream(tmp.path, { mode: 0o600 }));
        kept.sha256 = hash.digest("hex");
        if ((stream as Readable & { truncated?: boolean }).truncated) fail(tooLarge(fileLimit));
      })().catch((err: Error) => fail(new ApiError(400, "VALIDATION_ERROR", `The form's file cannot be read: ${err.message}`))),
    );
  });
  parser.on("fieldsLimit", () => fail(errors.validation("body", `a form has at most ${MAX_FIELDS} fields`)));
  parser.on("partsLimit", () => fail(errors.validation("body", `a form has at most ${MAX_FIELDS} fields`)));

  try {
    // Stops reading the request at the first failure (past the limit: nothing more is read).
    await pipeline(source, parser).catch((err: Error) => {
      // The request broke off (or was cut at the limit): the file part ends here too, so its write settles.
      (part as Readable | null)?.destroy(err);
      if (!failure) throw new ApiError(400, "VALIDATION_ERROR", `The form cannot be read: ${err.message}`);
    });
    await Promise.all(writes);
    if (failure) throw failure;
  } catch (err) {
    await Promise.allSettled(writes); // settled (its part ended or destroyed) before its file goes
    await (file as RequestFile | null)?.remove();
    throw err;
  }
  if (file) keepRequestFile(request, file);
  return { fields, file };
}
