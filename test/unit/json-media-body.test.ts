// A send's JSON body read as it streams: `media.data` decoded into a file as it comes (whatever
// the chunking, a JSON-escaped slash included), the rest parsed as any body is, the limit held
// without reading on, and nothing left on disk after a refusal.
import { afterAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiError } from "../../src/http/errors";
import { readJsonMediaBody } from "../../src/http/json-media-body";
import { removeRequestFile, requestFileOf } from "../../src/http/request-file";

const dir = mkdtempSync(join(tmpdir(), "json-media-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fileTooLarge = (limit: number) => new ApiError(413, "MEDIA_TOO_LARGE", `over ${limit}`);
const limits = (fileLimit = 1024 * 1024) => ({ fileLimit, bodyLimit: fileLimit * 2, fileTooLarge, dir });

/** A request whose body arrives in chunks of `size` bytes; `pulled` counts the chunks read. */
function chunked(text: string | Uint8Array, size: number, type = "application/json") {
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  const state = { pulled: 0 };
  let at = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.length) return c.close();
      state.pulled++;
      c.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
  return { request: new Request("http://localhost/x", { method: "POST", body, headers: { "content-type": type } }), state };
}

const leftOnDisk = () => readdirSync(dir).length;

test("a text body is parsed as any body, with no file", async () => {
  const { request } = chunked(JSON.stringify({ to: "4915112345678", text: "hé \"x\" \\/" }), 3);
  expect(await readJsonMediaBody(request, limits())).toEqual({ to: "4915112345678", text: 'hé "x" \\/' });
  expect(requestFileOf(request)).toBeUndefined();
});

test("media.data goes to a file, whatever the chunking; the rest stays the body", async () => {
  const bytes = new Uint8Array(20_000).map((_, i) => (i * 7919) % 256);
  // Escaped slashes, as some serializers write them, and whitespace around the structure.
  const data = Buffer.from(bytes).toString("base64").replaceAll("/", "\\/");
  const text = `{ "to" : "4915112345678", "type":"document", "media" : { "data" : "${data}" } , "caption":"a \\"q\\" é", "n":[1,{"data":"x"}]}`;
  for (const size of [1, 2, 3, 7, 4096, 1 << 20]) {
    const { request } = chunked(text, size);
    const body = await readJsonMediaBody(request, limits());
    expect(body).toEqual({ to: "4915112345678", type: "document", caption: 'a "q" é', n: [1, { data: "x" }] });
    const file = requestFileOf(request)!;
    expect(file).toMatchObject({ field: "media.data", size: bytes.length, contentType: null });
    expect(readFileSync(file.path).equals(Buffer.from(bytes))).toBe(true);
    expect(file.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    await removeRequestFile(request);
  }
  expect(leftOnDisk()).toBe(0);
});

test("padding, and data elsewhere than the top level's media object, are read as JSON says", async () => {
  for (const [data, expected] of [["QQ==", "A"], ["QUI=", "AB"], ["QUJD", "ABC"], ["QQ", "A"]] as const) {
    const { request } = chunked(`{"media":{"data":"${data}"}}`, 2);
    expect(await readJsonMediaBody(request, limits())).toEqual({});
    expect(readFileSync(requestFileOf(request)!.path, "latin1")).toBe(expected);
    await removeRequestFile(request);
  }
  // Only `media.data` of the body itself is a file: deeper, in an array, or under another key it is text.
  for (const text of ['{"x":{"media":{"data":"QQ=="}}}', '{"media":[{"data":"QQ=="}]}', '{"media":{"url":"https://a/b","x":{"data":"QQ=="}}}', '{"data":"QQ=="}']) {
    const { request } = chunked(text, 5);
    expect(await readJsonMediaBody(request, limits())).toEqual(JSON.parse(text));
    expect(requestFileOf(request)).toBeUndefined();
  }
  // Beside a url, the url stays so the route can refuse both at once.
  const { request } = chunked('{"media":{"url":"https://a/b","data":"QQ=="}}', 4);
  expect(await readJsonMediaBody(request, limits())).toEqual({ media: { url: "https://a/b" } });
  await removeRequestFile(request);
});

test("refusals: not base64, twice, not JSON, too deep, too large; nothing stays on disk", async () => {
  const refused = async (text: string | Uint8Array, size: number, l = limits(), type?: string) => {
    const { request, state } = chunked(text, size, type);
    const err = (await readJsonMediaBody(request, l).catch((e) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(requestFileOf(request)).toBeUndefined();
    return { err, state };
  };
  for (const data of ["QQ=A", "Q===", "QU!D", "QQ\\n", "QUJDR", "é"]) {
    const { err } = await refused(`{"media":{"data":"${data}"}}`, 2);
    expect([err.status, err.code, err.message]).toEqual([400, "VALIDATION_ERROR", expect.stringContaining("media.data")]);
  }
  expect((await refused('{"media":{"data":"QQ==","data":"QQ=="}}', 3)).err.message).toContain("given twice");
  // A later `media` replacing the one that held the file: refused, whatever it is.
  for (const later of ["null", "5", '{"data":5}', '{"url":"https://a/b"}']) {
    expect((await refused(`{"media":{"data":"QQ=="},"media":${later}}`, 3)).err.message).toContain("given twice");
  }
  expect((await refused('{"media":{"data":"QQ=="}', 3)).err.code).toBe("INVALID_JSON");
  expect((await refused('{"media":{"data":"QQ==', 3)).err.code).toBe("INVALID_JSON");
  expect((await refused(`{"a":${"[".repeat(40)}`, 3)).err.code).toBe("INVALID_JSON");
  expect((await refused("{}", 3, limits(), "text/plain")).err.status).toBe(415);

  // Past the limit: 413 once the decoded file passes it, the rest of the body never read.
  const big = `{"media":{"data":"${Buffer.alloc(64 * 1024, 1).toString("base64")}"}}`;
  const { err, state } = await refused(big, 1024, limits(16 * 1024));
  expect([err.status, err.code]).toEqual([413, "MEDIA_TOO_LARGE"]);
  expect(state.pulled).toBeLessThan(big.length / 1024 / 2);
  // The rest of the body is bounded like any body (1 MiB).
  expect((await refused(JSON.stringify({ caption: "x".repeat(1024 * 1024 + 1) }), 64 * 1024)).err.status).toBe(413);
  expect(leftOnDisk()).toBe(0);
});
