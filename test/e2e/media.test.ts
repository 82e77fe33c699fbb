// Media end to end: REST, rootless Podman, the sandbox image, and the emulator's contacts and its
// HTTPS media server (own test CA, reached by the container through a bind-mounted socket).
// Files a contact sends are downloaded and decrypted by the sandbox, streamed to the API, stored
// only when their sha256 is the message's, and served with Range; files the API is given go to
// the contact, who decrypts the same bytes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import type { RunningEmulator } from "../emulator";
import { startTestApi, type TestApi } from "../support/api";
import { emulatorControl, startEmulatorForContainers } from "../support/emulator";
import { waitFor } from "../support/env";
import { WebhookReceiver } from "../support/webhook-receiver";
import { ffmpegOut } from "../support/media-files";

const PHONE = "4915112370001";
const CONTACT = "4915112370002";
const CONTACT_JID = `${CONTACT}@s.whatsapp.net`;
const MAX = 300_000;

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
/** A real PNG (a 1x1 pixel) followed by its own padding chunk of `extra` bytes, so sizes can vary. */
function png(extra = 0): Buffer {
  const head = Buffer.from("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a7c1d2d40000000049454e44ae426082", "hex");
  return Buffer.concat([head.subarray(0, head.length - 12), Buffer.alloc(extra, 7), head.subarray(head.length - 12)]);
}
/** The first page of an Ogg Opus stream: enough for its type to be read from the bytes. */
function opus(extra = 0): Buffer {
  const head = Buffer.concat([Buffer.from("OpusHead"), Buffer.from([1, 1, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0])]);
  // Capture pattern, version, "first page", granule (8), serial (4), sequence (4), checksum (4), one segment.
  return Buffer.concat([Buffer.from("OggS"), Buffer.from([0, 2]), Buffer.alloc(8), Buffer.from([1, 0, 0, 0]), Buffer.alloc(8), Buffer.from([1, head.length]), head, Buffer.alloc(extra, 3)]);
}
const pdf = (text: string) => Buffer.from(`%PDF-1.4\n% ${text}\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n`);

describe("media messages", () => {
  let emu: RunningEmulator;
  let control: ReturnType<typeof emulatorControl>;
  let t: TestApi;
  const receiver = new WebhookReceiver();
  let id = "";
  let key = "";
  let other = { id: "", key: "" };

  const received = async () => (await control("GET", `/control/phones/${CONTACT}/received`)).body.messages as any[];
  const message = async (mid: string) => (await t.call("GET", `/sessions/${id}/messages/${mid}`, { key })).body.message;
  const send = (body: unknown) => t.call("POST", `/sessions/${id}/messages`, { key, body });
  const media = (mid: string, headers: Record<string, string> = {}, k = key) => fetch(`${t.url}/sessions/${id}/messages/${mid}/media`, { headers: { "x-api-key": k, ...headers } });

  beforeAll(async () => {
    receiver.start();
    emu = await startEmulatorForContainers();
    control = emulatorControl(emu);
    await control("POST", "/control/numbers", { add: [CONTACT] });
    t = await startTestApi("postgres", {
      WA_WS_URL: emu.wsUrl,
      WA_TRUST_ROOT: emu.trustRoot,
      WA_MEDIA_SOCKET: emu.mediaSocketPath!,
      WA_MEDIA_CA: emu.mediaCa,
      MEDIA_MAX_BYTES: String(MAX),
      SANDBOX_REQUEST_TIMEOUT_MS: "10000",
    });
    const created = await t.call("POST", "/sessions/create", { body: { name: "media", webhookUrl: receiver.url } });
    id = created.body.session.id;
    key = created.body.apiKey;
    const second = await t.createSession("media-other");
    other = { id: second.id, key: second.apiKey };
    await waitFor(async () => (await t.call("GET", `/sessions/${id}/status`, { key })).body.session.state === "qr_ready", 30_000, "qr_ready");
    const qr = (await t.call("GET", `/sessions/${id}/qr`, { key })).body.qr;
    expect((await control("POST", "/control/scan", { qr, phoneNumber: PHONE })).status).toBe(200);
    await waitFor(async () => (await t.call("GET", `/sessions/${id}/status`, { key })).body.session?.state === "ready", 60_000, "ready");
  });
  afterAll(async () => {
    await t?.close();
    await emu?.stop();
    receiver.stop();
  });

  test("an image a contact sends is downloaded, checked, stored and served whole and by range; the webhook carries its URL, not its bytes", async () => {
    const bytes = png(5000);
    const sent = await control("POST", "/control/messages", { from: CONTACT, to: PHONE, type: "image", caption: "our shop", media: { data: bytes.toString("base64"), mimetype: "image/png" } });
    expect(sent.status).toBe(200);
    const mid = sent.body.id as string;
    const stored = await waitFor(async () => {
      const m = await message(mid);
      return m?.media?.state === "stored" ? m : undefined;
    }, 30_000, "the file stored");
    expect(stored).toMatchObject({ id: mid, chatId: CONTACT_JID, fromMe: false, type: "image", text: null, caption: "our shop" });
    expect(stored.media).toMatchObject({ mimetype: "image/png", size: bytes.length, sha256: sha256(bytes), url: `/sessions/${id}/messages/${mid}/media` });

    const whole = await media(mid);
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-type")).toBe("image/png");
    expect(whole.headers.get("etag")).toBe(`"${sha256(bytes)}"`);
    expect(whole.headers.get("content-disposition")).toMatch(/^inline; filename=/);
    // A sender chooses the type: never sniffed, never run as a page.
    expect(whole.headers.get("x-content-type-options")).toBe("nosniff");
    expect(whole.headers.get("content-security-policy")).toContain("sandbox");
    expect(sha256(new Uint8Array(await whole.arrayBuffer()))).toBe(sha256(bytes));
    const part = await media(mid, { range: "bytes=10-99" });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 10-99/${bytes.length}`);
    expect(sha256(new Uint8Array(await part.arrayBuffer()))).toBe(sha256(bytes.subarray(10, 100)));
    expect((await media(mid, { range: "bytes=-16" })).headers.get("content-range")).toBe(`bytes ${bytes.length - 16}-${bytes.length - 1}/${bytes.length}`);
    expect((await media(mid, { range: `bytes=${bytes.length}-` })).status).toBe(416);
    expect((await media(mid, { "if-none-match": `"${sha256(bytes)}"` })).status).toBe(304);

    const hook = await waitFor(() => receiver.of(id).find((r) => r.json.event === "message.received" && r.json.data.id === mid), 10_000, "message.received");
    expect(hook.json.data.media).toMatchObject({ sha256: sha256(bytes), state: "stored", url: `/sessions/${id}/messages/${mid}/media` });
    expect(hook.body).not.toContain(bytes.toString("base64").slice(0, 40));

    // Another session's key reaches none of it.
    expect((await media(mid, {}, other.key)).status).toBe(403);
    expect((await t.call("GET", `/sessions/${other.id}/messages/${mid}/media`, { key: other.key })).body.code).toBe("MESSAGE_NOT_FOUND");
  });

  test("a document and a voice note a contact sends keep their name and kind", async () => {
    const doc = pdf("invoice 42");
    const d = await control("POST", "/control/messages", { from: CONTACT, to: PHONE, type: "document", caption: "invoice", media: { data: doc.toString("base64"), mimetype: "application/pdf", fileName: "invoice-42.pdf" } });
    const stored = await waitFor(async () => ((await message(d.body.id))?.media?.state === "stored" ? message(d.body.id) : undefined), 30_000, "the document stored");
    expect(stored).toMatchObject({ type: "document", caption: "invoice", media: { mimetype: "application/pdf", fileName: "invoice-42.pdf", sha256: sha256(doc) } });
    const res = await media(d.body.id);
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="invoice-42.pdf"/);
    expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(sha256(doc));

    const note = opus(2000);
    const v = await control("POST", "/control/messages", { from: CONTACT, to: PHONE, type: "voice", media: { data: note.toString("base64"), mimetype: "audio/ogg; codecs=opus" } });
    const voice = await waitFor(async () => ((await message(v.body.id))?.media?.state === "stored" ? message(v.body.id) : undefined), 30_000, "the voice note stored");
    expect(voice).toMatchObject({ type: "voice", media: { mimetype: "audio/ogg", sha256: sha256(note) } });
  });

  test("a voice note the API is given goes as a push-to-talk note", async () => {
    const note = opus(1500);
    const res = await send({ to: CONTACT, type: "voice", media: { data: note.toString("base64") } });
    expect(res.status).toBe(201);
    expect(res.body.message.media).toMatchObject({ mimetype: "audio/ogg; codecs=opus", sha256: sha256(note) });
    const got = await waitFor(async () => (await received()).find((m) => m.id === res.body.message.id), 20_000, "the voice note");
    expect(got).toMatchObject({ type: "voice", media: { sha256: sha256(note), size: note.length } });
    // A picture is no voice note, converted or not.
    const notAudio = await send({ to: CONTACT, type: "voice", media: { data: png().toString("base64") } });
    expect({ status: notAudio.status, code: notAudio.body.code }).toEqual({ status: 400, code: "VALIDATION_ERROR" });
  });

  test("a file over MEDIA_MAX_BYTES is not downloaded: its media is failed, with the reason", async () => {
    const big = png(MAX + 10);
    const sent = await control("POST", "/control/messages", { from: CONTACT, to: PHONE, type: "image", media: { data: big.toString("base64"), mimetype: "image/png" } });
    const m = await waitFor(async () => {
      const x = await message(sent.body.id);
      return x?.media ? x : undefined;
    }, 30_000, "the message");
    expect(m.media).toMatchObject({ state: "failed", size: big.length });
    expect(m.media.reason).toContain("MEDIA_MAX_BYTES");
    expect((await media(sent.body.id)).status).toBe(404);
  });

  test("an image the API is given reaches the contact, who decrypts the same bytes, with its dimensions and a thumbnail", async () => {
    const bytes = await sharp({ create: { width: 320, height: 200, channels: 3, background: "#d35" } }).png().toBuffer();
    const res = await send({ to: CONTACT, type: "image", caption: "from the API", media: { data: bytes.toString("base64") } });
    expect(res.status).toBe(201);
    expect(res.body.message).toMatchObject({ type: "image", text: null, caption: "from the API", media: { mimetype: "image/png", size: bytes.length, sha256: sha256(bytes), width: 320, height: 200, state: "stored" } });
    expect(res.body.message.media.thumbnail).toBeUndefined();
    const mid = res.body.message.id;
    const got = await waitFor(async () => (await received()).find((m) => m.id === mid), 20_000, "the contact to receive it");
    expect(got).toMatchObject({ from: PHONE, type: "image", caption: "from the API", media: { mimetype: "image/png", size: bytes.length, sha256: sha256(bytes), width: 320, height: 200 } });
    expect(got.media.thumbnailSize).toBeGreaterThan(100);
    // Sent media is kept and served like received media.
    expect(sha256(new Uint8Array(await (await media(mid)).arrayBuffer()))).toBe(sha256(bytes));
  });

  test("a video goes with its size, length and first frame; a WAV sent as a voice note is converted to Ogg Opus", async () => {
    const mp4 = await ffmpegOut(["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "2", "-pix_fmt", "yuv420p", "-movflags", "frag_keyframe+empty_moov", "-f", "mp4"]);
    const v = await send({ to: CONTACT, type: "video", caption: "clip", media: { data: mp4.toString("base64") } });
    expect(v.status).toBe(201);
    expect(v.body.message.media).toMatchObject({ mimetype: "video/mp4", width: 160, height: 120, seconds: 2, sha256: sha256(mp4) });
    const video = await waitFor(async () => (await received()).find((m) => m.id === v.body.message.id), 20_000, "the video");
    expect(video).toMatchObject({ type: "video", caption: "clip", media: { sha256: sha256(mp4), width: 160, height: 120, seconds: 2 } });
    expect(video.media.thumbnailSize).toBeGreaterThan(100);

    const wav = await ffmpegOut(["-f", "lavfi", "-i", "sine=frequency=300:duration=1", "-ac", "2", "-f", "wav"]);
    const n = await send({ to: CONTACT, type: "voice", media: { data: wav.toString("base64") } });
    expect(n.status).toBe(201);
    expect(n.body.message.media).toMatchObject({ mimetype: "audio/ogg; codecs=opus", seconds: 1 });
    const note = await waitFor(async () => (await received()).find((m) => m.id === n.body.message.id), 20_000, "the voice note");
    // What the contact decrypted is the converted note the API stored and serves.
    expect(note).toMatchObject({ type: "voice", media: { sha256: n.body.message.media.sha256, seconds: 1 } });
    expect(sha256(new Uint8Array(await (await media(n.body.message.id)).arrayBuffer()))).toBe(n.body.message.media.sha256);
  });

  test("media.url: fetched (up to 3 redirects) with the file name from the URL; more redirects, an HTTP error or a file over the limit are refused without reading it", async () => {
    const doc = pdf("fetched by URL");
    let bigSent = 0;
    const files = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const path = new URL(req.url).pathname;
        const hop = /^\/r(\d)$/.exec(path);
        if (hop) return Response.redirect(Number(hop[1]) === 3 ? "/files/invoice%2042.pdf" : `/r${Number(hop[1]) + 1}`, 302);
        if (path === "/files/invoice%2042.pdf") return new Response(doc, { headers: { "content-type": "application/pdf" } });
        if (path === "/announced") return new Response(new Uint8Array(MAX + 1));
        if (path === "/endless") {
          // Chunked, with no length: only reading tells it is too large.
          return new Response(new ReadableStream({ pull: (c) => { bigSent += 65536; c.enqueue(new Uint8Array(65536)); if (bigSent >= 64 * 1024 * 1024) c.close(); } }));
        }
        return new Response("no", { status: 404 });
      },
    });
    try {
      const base = `http://127.0.0.1:${files.port}`;
      const res = await send({ to: CONTACT, type: "document", media: { url: `${base}/r1` } });
      expect(res.status).toBe(201);
      expect(res.body.message.media).toMatchObject({ mimetype: "application/pdf", fileName: "invoice 42.pdf", sha256: sha256(doc) });
      const got = await waitFor(async () => (await received()).find((m) => m.id === res.body.message.id), 20_000, "the fetched document");
      expect(got).toMatchObject({ type: "document", media: { fileName: "invoice 42.pdf", sha256: sha256(doc) } });

      for (const path of ["/r0", "/missing"]) {
        const failed = await send({ to: CONTACT, type: "document", media: { url: `${base}${path}` } });
        expect({ path, status: failed.status, code: failed.body.code }).toEqual({ path, status: 422, code: "MEDIA_FETCH_FAILED" });
      }
      const announced = await send({ to: CONTACT, type: "document", media: { url: `${base}/announced` } });
      expect({ status: announced.status, code: announced.body.code }).toEqual({ status: 413, code: "MEDIA_TOO_LARGE" });
      const endless = await send({ to: CONTACT, type: "document", media: { url: `${base}/endless` } });
      expect({ status: endless.status, code: endless.body.code }).toEqual({ status: 413, code: "MEDIA_TOO_LARGE" });
      await Bun.sleep(200);
      // Stopped near the limit (300 KB), socket buffers aside: far from the 64 MiB on offer.
      expect(bigSent).toBeLessThan(16 * 1024 * 1024);
      const notUrl = await send({ to: CONTACT, type: "document", media: { url: "ftp://127.0.0.1/x" } });
      expect({ status: notUrl.status, field: notUrl.body.field }).toEqual({ status: 400, field: "media.url" });
    } finally {
      files.stop(true);
    }
  });

  test("multipart/form-data: the file part with the same fields; over the limit 413; a form's unknown field 400", async () => {
    const doc = pdf("sent as a form");
    const form = new FormData();
    form.set("to", CONTACT);
    form.set("type", "document");
    form.set("caption", "a form");
    form.set("file", new Blob([doc], { type: "application/pdf" }), "form.pdf");
    const res = await fetch(`${t.url}/sessions/${id}/messages`, { method: "POST", headers: { "x-api-key": key, "idempotency-key": "form-1" }, body: form });
    const body = (await res.json()) as any;
    expect(res.status).toBe(201);
    expect(body.message).toMatchObject({ type: "document", caption: "a form", media: { mimetype: "application/pdf", fileName: "form.pdf", sha256: sha256(doc), state: "stored" } });
    const got = await waitFor(async () => (await received()).find((m) => m.id === body.message.id), 20_000, "the form's document");
    expect(got).toMatchObject({ type: "document", caption: "a form", media: { fileName: "form.pdf", sha256: sha256(doc) } });

    const post = async (fields: Record<string, string>, file?: Buffer) => {
      const f = new FormData();
      for (const [k, v] of Object.entries(fields)) f.set(k, v);
      if (file) f.set("file", new Blob([new Uint8Array(file)]), "x.bin");
      const r = await fetch(`${t.url}/sessions/${id}/messages`, { method: "POST", headers: { "x-api-key": key }, body: f });
      return { status: r.status, ...((await r.json()) as any) };
    };
    expect(await post({ to: CONTACT, type: "document" }, Buffer.alloc(MAX + 1))).toMatchObject({ status: 413, code: "MEDIA_TOO_LARGE" });
    expect(await post({ to: CONTACT, type: "document", colour: "red" }, doc)).toMatchObject({ status: 400, code: "VALIDATION_ERROR" });
    expect(await post({ to: CONTACT, type: "document" })).toMatchObject({ status: 400, code: "VALIDATION_ERROR", field: "media" });
    expect(await post({ to: CONTACT, type: "image" }, doc)).toMatchObject({ status: 400, code: "VALIDATION_ERROR", field: "file" });
    // A client that stops half-way through its file: nothing hangs, nothing is kept.
    const boundary = "cut-short";
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="to"\r\n\r\n${CONTACT}\r\n--${boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\ndocument\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="half.pdf"\r\n\r\n`;
    await new Promise<void>((resolve, reject) => {
      Bun.connect({
        hostname: "127.0.0.1",
        port: Number(new URL(t.url).port),
        socket: {
          open(sock) {
            sock.write(`POST /sessions/${id}/messages HTTP/1.1\r\nHost: localhost\r\nX-API-Key: ${key}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 200000\r\n\r\n${head}${"%PDF-1.4 ".repeat(2000)}`);
            setTimeout(() => (sock.end(), resolve()), 300);
          },
          data() {},
          error: (_s, err) => reject(err),
        },
      }).catch(reject);
    });
    expect((await t.call("GET", `/sessions/${id}/status`, { key })).status).toBe(200);
    // Nothing of the forms is left behind in the temporary directory (removed once each answer went).
    // (They are written beside the media store, so that a file kept is moved in, not copied.)
    // (Each node its own folder there: several may share MEDIA_DIR.)
    const uploads = join(t.dataDir, "media", "tmp", readFileSync(join(t.dataDir, "node-id"), "utf8").trim());
    await waitFor(async () => readdirSync(uploads).filter((n) => n.startsWith("wa-upload-")).length === 0, 5000, "the forms' files removed");
  });

  test("a document keeps its file name; a declared type the bytes contradict is 422; too large is 413; an empty file is 400", async () => {
    const doc = pdf("order 7");
    const res = await send({ to: CONTACT, type: "document", fileName: "order-7.pdf", caption: "your order", media: { data: doc.toString("base64") } });
    expect(res.status).toBe(201);
    const got = await waitFor(async () => (await received()).find((m) => m.id === res.body.message.id), 20_000, "the document");
    expect(got).toMatchObject({ type: "document", media: { mimetype: "application/pdf", fileName: "order-7.pdf", sha256: sha256(doc) } });

    // The base64 is decoded as the body streams: sent in small pieces, with slashes JSON-escaped as
    // some serializers write them, the contact still decrypts the same bytes.
    const streamed = Buffer.concat([pdf("streamed"), Buffer.alloc(60_000, 0xff)]); // base64 "////…"
    const text = JSON.stringify({ to: CONTACT, type: "document", media: { data: streamed.toString("base64") } }).replaceAll("/", "\\/");
    const bytes = new TextEncoder().encode(text);
    let at = 0;
    const piecewise = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (at >= bytes.length) return c.close();
        c.enqueue(bytes.slice(at, (at += 4093)));
        await Bun.sleep(0);
      },
    });
    const res2 = await fetch(`${t.url}/sessions/${id}/messages`, { method: "POST", headers: { "x-api-key": key, "content-type": "application/json" }, body: piecewise });
    const sent2 = (await res2.json()) as { message: { id: string; media: { sha256: string; size: number } } };
    expect({ status: res2.status, sha256: sent2.message.media.sha256, size: sent2.message.media.size }).toEqual({ status: 201, sha256: sha256(streamed), size: streamed.length });
    await waitFor(async () => (await received()).find((m) => m.id === sent2.message.id && m.media?.sha256 === sha256(streamed)), 20_000, "the streamed document");

    const mismatch = await send({ to: CONTACT, type: "image", mimetype: "image/jpeg", media: { data: png().toString("base64") } });
    expect({ status: mismatch.status, code: mismatch.body.code }).toEqual({ status: 422, code: "MEDIA_TYPE_MISMATCH" });
    const large = await send({ to: CONTACT, type: "image", media: { data: png(MAX + 1).toString("base64") } });
    expect({ status: large.status, code: large.body.code }).toEqual({ status: 413, code: "MEDIA_TOO_LARGE" });
    const huge = await send({ to: CONTACT, type: "document", media: { data: Buffer.alloc(MAX * 2).toString("base64") } });
    expect({ status: huge.status, code: huge.body.code }).toEqual({ status: 413, code: "MEDIA_TOO_LARGE" });
    const empty = await send({ to: CONTACT, type: "document", media: { data: "" } });
    expect(empty.status).toBe(400);
    const notBase64 = await send({ to: CONTACT, type: "image", media: { data: "%%%" } });
    expect({ status: notBase64.status, field: notBase64.body.field }).toEqual({ status: 400, field: "media.data" });
    const mixed = await send({ to: CONTACT, type: "image", text: "hi", media: { data: png().toString("base64") } });
    expect({ status: mixed.status, field: mixed.body.field }).toEqual({ status: 400, field: "text" });
  });

  test("a file that arrives while the API is down is stored once it is back", async () => {
    const bytes = png(4000);
    await t.stopApi();
    const sent = await control("POST", "/control/messages", { from: CONTACT, to: PHONE, type: "image", caption: "while you were away", media: { data: bytes.toString("base64"), mimetype: "image/png" } });
    expect(sent.status).toBe(200);
    await Bun.sleep(1500); // the sandbox has it, and its report and upload wait for the API
    await t.restartApi();
    const m = await waitFor(async () => {
      const x = await message(sent.body.id);
      return x?.media?.state === "stored" ? x : undefined;
    }, 60_000, "the file stored after the restart");
    expect(m).toMatchObject({ caption: "while you were away", media: { sha256: sha256(bytes) } });
    expect(sha256(new Uint8Array(await (await media(sent.body.id)).arrayBuffer()))).toBe(sha256(bytes));
  });

  // Last: it restarts the API and the session's sandbox with MEDIA_AUTO_DOWNLOAD=false.
  test("MEDIA_AUTO_DOWNLOAD=false: a file waits (failed, with the reason) until POST …/media/download brings it; expired at WhatsApp it is re-requested, then failed", async () => {
    await t.restartApi({ MEDIA_AUTO_DOWNLOAD: "false" });
    expect((await t.call("POST", `/sessions/${id}/stop`, { key })).status).toBe(200);
    expect((await t.call("POST", `/sessions/${id}/start`, { key })).status).toBe(200);
    await waitFor(async () => (await t.call("GET", `/sessions/${id}/status`, { key })).body.session?.state === "ready", 60_000, "ready again, without a QR");

    const bytes = pdf("fetched when asked");
    const sent = await control("POST", "/control/messages", { from: CONTACT, to: PHONE, type: "document", media: { data: bytes.toString("base64"), mimetype: "application/pdf", fileName: "later.pdf" } });
    const waiting = await waitFor(async () => ((await message(sent.body.id))?.media ? message(sent.body.id) : undefined), 20_000, "the message");
    expect(waiting.media).toMatchObject({ state: "failed", sha256: sha256(bytes) });
    expect(waiting.media.reason).toContain("MEDIA_AUTO_DOWNLOAD");
    // Announced at once, with its file not downloaded.
    const hook = await waitFor(async () => receiver.received.find((r) => r.json.event === "message.received" && r.json.data.id === sent.body.id), 20_000, "its webhook");
    expect(hook.json.data.media.state).toBe("failed");
    expect((await media(sent.body.id)).status).toBe(404);

    const asked = await t.call("POST", `/sessions/${id}/messages/${sent.body.id}/media/download`, { key });
    expect(asked.status).toBe(200);
    expect(asked.body.message.media).toMatchObject({ state: "stored", sha256: sha256(bytes), fileName: "later.pdf" });
    expect(asked.body.message.media.reason).toBeUndefined();
    expect(sha256(new Uint8Array(await (await media(sent.body.id)).arrayBuffer()))).toBe(sha256(bytes));
    // Another session's key cannot ask for it; a message without a file has none to bring.
    expect((await t.call("POST", `/sessions/${id}/messages/${sent.body.id}/media/download`, { key: other.key })).status).toBe(403);
    const text = await control("POST", "/control/messages", { from: CONTACT, to: PHONE, text: "no file here" });
    await waitFor(async () => (await message(text.body.id)) ?? undefined, 20_000, "the text");
    const none = await t.call("POST", `/sessions/${id}/messages/${text.body.id}/media/download`, { key });
    expect({ status: none.status, code: none.body.code }).toEqual({ status: 404, code: "MEDIA_NOT_FOUND" });

    // Expired at WhatsApp: the sandbox asks the sender's phone to upload it again; the emulator's
    // phones do not, so after that wait the file is failed, with the reason.
    const gone = pdf("expired before anyone asked");
    const late = await control("POST", "/control/messages", { from: CONTACT, to: PHONE, type: "document", media: { data: gone.toString("base64"), mimetype: "application/pdf" } });
    await waitFor(async () => ((await message(late.body.id))?.media ? true : undefined), 20_000, "the expired file's message");
    expect((await control("POST", "/control/media/expire", { sha256: sha256(gone) })).status).toBe(200);
    const expired = await t.call("POST", `/sessions/${id}/messages/${late.body.id}/media/download`, { key });
    expect(expired.status).toBe(200);
    // The phone is given 10 s, as long as this API waits for its sandbox: the answer may come first, still pending.
    expect(["pending", "failed"]).toContain(expired.body.message.media.state);
    const settled = await waitFor(async () => ((await message(late.body.id)).media.state === "failed" ? message(late.body.id) : undefined), 20_000, "the expired file failed");
    expect(settled.media.reason).toMatch(/expired at WhatsApp \(404\), and the sender.s phone did not upload the expired file again in time/);
    // Only its first announcement went out: the download's outcome is the call's answer.
    expect(receiver.received.filter((r) => r.json.event === "message.received" && r.json.data.id === sent.body.id)).toHaveLength(1);
  });
});
