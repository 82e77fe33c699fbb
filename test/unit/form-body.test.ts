// A send's multipart/form-data body read as it streams: its fields, and its one `file` part on
// disk, held to the limit exactly (a file of the limit passes; one byte more is refused, however
// small the limit and however the body arrives), and nothing left on disk after a refusal.
import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { ApiError } from "../../src/http/errors";
import { readFormBody } from "../../src/http/form-body";
import { removeRequestFile } from "../../src/http/request-file";

const tooLarge = (limit: number) => new ApiError(413, "MEDIA_TOO_LARGE", `over ${limit}`);

function formRequest(fields: Record<string, string>, file?: Uint8Array): Request {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  if (file) form.set("file", new Blob([new Uint8Array(file)], { type: "application/pdf" }), "a.pdf");
  return new Request("http://localhost/x", { method: "POST", body: form });
}

test("fields and the file part; a file of exactly the limit passes, one byte more is 413", async () => {
  const limit = 256 * 1024;
  const bytes = new Uint8Array(limit).fill(7);
  const request = formRequest({ to: "4915112345678", type: "document" }, bytes);
  const form = await readFormBody(request, limit, tooLarge);
  expect(form.fields).toEqual({ to: "4915112345678", type: "document" });
  expect(form.file).toMatchObject({ size: limit, contentType: "application/pdf", fileName: "a.pdf" });
  expect(readFileSync(form.file!.path).equals(Buffer.from(bytes))).toBe(true);
  await removeRequestFile(request);
  expect(existsSync(form.file!.path)).toBe(false);

  await expect(readFormBody(formRequest({ to: "x" }, new Uint8Array(limit + 1)), limit, tooLarge)).rejects.toMatchObject({ status: 413 });
});

test("a small limit refuses a larger file whole, not cut to the limit", async () => {
  for (const limit of [1024, 64 * 1024]) {
    await expect(readFormBody(formRequest({ to: "x" }, new Uint8Array(1024 * 1024)), limit, tooLarge)).rejects.toMatchObject({ status: 413 });
  }
});

test("a field given twice, an unknown file part, or too many fields are 400", async () => {
  const twice = new FormData();
  twice.append("to", "a");
  twice.append("to", "b");
  await expect(readFormBody(new Request("http://localhost/x", { method: "POST", body: twice }), 1024, tooLarge)).rejects.toMatchObject({ status: 400 });
  const other = new FormData();
  other.set("attachment", new Blob(["x"]), "x.txt");
  await expect(readFormBody(new Request("http://localhost/x", { method: "POST", body: other }), 1024, tooLarge)).rejects.toMatchObject({ status: 400 });
  const many = new FormData();
  for (let i = 0; i < 40; i++) many.set(`f${i}`, "v");
  await expect(readFormBody(new Request("http://localhost/x", { method: "POST", body: many }), 1024, tooLarge)).rejects.toMatchObject({ status: 400 });
});
