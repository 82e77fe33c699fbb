// Media files on in-memory PGlite with a real file store: an incoming file is kept only when its
// bytes are the message's (a wrong hash is a failure, never stored, and a retry with the right
// bytes stores it); a sent file is typed from its bytes; deleting a session removes its files
// but not a file another session's message carries.
import { afterAll, beforeEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import type { SessionRow } from "../../src/db/schema";
import { sql } from "drizzle-orm";
import sharp from "sharp";
import { ChannelError } from "../../src/channel/link";
import { silentLogger } from "../../src/log";
import { ffmpegTools } from "../../src/media/ffmpeg";
import { MediaPreparer } from "../../src/media/prepare";
import type { MediaType } from "../../src/model/messages";
import { MediaFiles } from "../../src/sessions/media";
import { messageView } from "../../src/sessions/message-view";
import { made, memoryDomain, type MemoryDomain } from "../support/memory-domain";
import { ffmpegOut } from "../support/media-files";


let d: MemoryDomain;
beforeEach(async () => {
  d = await memoryDomain(d);
});
afterAll(() => d?.close());

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const PDF = Buffer.from("%PDF-1.4\n% a test document\n%%EOF\n");

async function readySession(webhookUrl?: string): Promise<{ s: SessionRow; launch: string }> {
  const { session } = await made(d.sessions.operations.create({ name: `m-${crypto.randomUUID().slice(0, 8)}`, ...(webhookUrl ? { webhookUrl } : {}) }));
  const launch = d.runtime.containers.get(session.id)!.launch.env.LAUNCH!;
  await d.sessions.reports.apply(session.id, launch, { type: "ready", phoneNumber: "4915112340001", pushName: null });
  return { s: (await d.repo.byId(session.id))!, launch };
}

async function incomingDocument(s: SessionRow, launch: string, id: string, bytes: Uint8Array) {
  await d.sessions.reports.apply(s.id, launch, {
    type: "message",
    message: { id, chatId: "4915112340002@s.whatsapp.net", fromMe: false, type: "document", text: null, caption: "x", media: { mimetype: "application/pdf", size: bytes.length, sha256: sha(bytes), fileName: "a.pdf" }, timestamp: 1_700_000_000, replyTo: null },
  });
}

test("bytes that are not the message's file are refused and not kept; the right bytes then are", async () => {
  const { s, launch } = await readySession();
  await incomingDocument(s, launch, "DOC1", PDF);
  expect((await d.messages.byId(s.id, "DOC1"))!.media).toMatchObject({ state: "pending" });
  const wrong = Buffer.from(PDF).fill(1, 20, 21);
  expect(await d.sessions.reports.mediaIn(s.id, launch, "DOC1", [wrong] as never)).toBe("mismatch");
  expect((await d.messages.byId(s.id, "DOC1"))!.media).toMatchObject({ state: "failed" });
  await expect(d.sessions.media.file(s, "DOC1")).rejects.toMatchObject({ code: "MEDIA_NOT_FOUND" });
  expect(await d.sessions.reports.mediaIn(s.id, launch, "DOC1", [PDF] as never)).toBe("stored");
  const file = await d.sessions.media.file(s, "DOC1");
  expect(file).toMatchObject({ size: PDF.length, media: { state: "stored", sha256: sha(PDF) } });
  expect(file.media.reason).toBeUndefined();
  expect(Buffer.from(await new Response(d.sessions.media.read(sha(PDF))).arrayBuffer())).toEqual(PDF);
  // More bytes than the message said: refused, nothing kept.
  await incomingDocument(s, launch, "DOC2", PDF.subarray(0, 10));
  expect(await d.sessions.reports.mediaIn(s.id, launch, "DOC2", [PDF] as never)).toBe("too-large");
  // Another launch's sandbox cannot upload.
  expect(await d.sessions.reports.mediaIn(s.id, "not-the-launch", "DOC1", [PDF] as never)).toBe("refused");
  expect(await d.sessions.reports.mediaIn(s.id, launch, "NOPE", [PDF] as never)).toBe("not-found");
});

test("deleting a session removes its files, except one another session's message carries", async () => {
  const a = await readySession();
  const b = await readySession();
  const own = Buffer.from("%PDF-1.4\n% only a's\n%%EOF\n");
  await incomingDocument(a.s, a.launch, "OWN", own);
  await d.sessions.reports.mediaIn(a.s.id, a.launch, "OWN", [own] as never);
  await incomingDocument(a.s, a.launch, "SHARED", PDF);
  await d.sessions.reports.mediaIn(a.s.id, a.launch, "SHARED", [PDF] as never);
  await incomingDocument(b.s, b.launch, "SHARED", PDF);
  await d.sessions.reports.mediaIn(b.s.id, b.launch, "SHARED", [PDF] as never);
  await d.sessions.operations.delete(a.s);
  await expect(d.sessions.media.file(b.s, "SHARED")).resolves.toMatchObject({ size: PDF.length });
  expect(await d.messages.mediaInUse(sha(own))).toBe(false);
  await expect(new Response(d.sessions.media.read(sha(own))).arrayBuffer()).rejects.toThrow();
});

const accept = (type: MediaType, bytes: Uint8Array, extra: { mimetype?: string; fileName?: string } = {}) => d.sessions.media.accept({ type, bytes: [bytes], field: "media", ...extra });

test("a sent file's type comes from its bytes", async () => {
  const info = await accept("document", PDF, { fileName: "x.pdf" });
  expect(info).toMatchObject({ mimetype: "application/pdf", size: PDF.length, sha256: sha(PDF), fileName: "x.pdf", state: "stored" });
  await expect(accept("image", PDF)).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
  await expect(accept("document", PDF, { mimetype: "image/png" })).rejects.toMatchObject({ code: "MEDIA_TYPE_MISMATCH" });
  await expect(accept("document", new Uint8Array(0))).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
});

test("a file over MEDIA_MAX_BYTES is refused as it streams: the source is not read past the limit", async () => {
  let given = 0;
  const chunks = function* () {
    for (let i = 0; i < 64; i++) {
      given += 64 * 1024;
      yield new Uint8Array(64 * 1024);
    }
  };
  // The memory domain's limit is 1 MiB: 17 chunks of 64 KiB cross it.
  await expect(d.sessions.media.accept({ type: "document", bytes: chunks(), field: "media" })).rejects.toMatchObject({ code: "MEDIA_TOO_LARGE" });
  expect(given).toBe(17 * 64 * 1024);
});

test("an image gets its dimensions and a JPEG thumbnail; a sticker given as PNG is converted to a 512x512 WebP", async () => {
  const image = await sharp({ create: { width: 640, height: 480, channels: 3, background: "#3a7" } }).png().toBuffer();
  const sent = await accept("image", image);
  expect(sent).toMatchObject({ mimetype: "image/png", width: 640, height: 480 });
  const thumb = Buffer.from(sent.thumbnail!, "base64");
  expect([...thumb.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
  expect(await sharp(thumb).metadata()).toMatchObject({ format: "jpeg", width: 96, height: 72 });
  // What a client sees never holds the thumbnail.
  expect(JSON.stringify(messageView("s", { id: "m", chatId: "c", fromMe: true, type: "image", text: null, replyTo: null, status: "sent", timestamp: 1, caption: null, media: sent }))).not.toContain(sent.thumbnail!);

  // A picture of more pixels than the decode limit (40 million by default; 100,000 here) keeps
  // its size but goes without a preview, and as a sticker it is refused: it is never decoded.
  const small = new MediaPreparer(ffmpegTools("ffmpeg"), 100_000);
  expect(await small.describe("image", d.store.localPath(sent.sha256))).toEqual({ width: 640, height: 480 });
  await expect(small.toSticker(d.store.localPath(sent.sha256))).rejects.toThrow(/pixel limit/);

  const sticker = await accept("sticker", image);
  expect(sticker.mimetype).toBe("image/webp");
  const converted = await new Response(d.sessions.media.read(sticker.sha256)).bytes();
  expect(sha(converted)).toBe(sticker.sha256);
  expect(await sharp(converted).metadata()).toMatchObject({ format: "webp", width: 512, height: 512 });
  // A file that only claims to be an image cannot be read: 400, and nothing is kept.
  const broken = Buffer.concat([image.subarray(0, 40), Buffer.alloc(200)]);
  await expect(accept("image", broken)).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
  expect(await d.messages.mediaInUse(sha(broken))).toBe(false);
  await expect(new Response(d.sessions.media.read(sha(broken))).arrayBuffer()).rejects.toThrow();
});

test("a voice note given as other audio is converted to mono Ogg Opus with its length; a video gets its size, length and first frame", async () => {
  const wav = await ffmpegOut(["-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-ac", "2", "-f", "wav"]);
  const voice = await accept("voice", wav);
  expect(voice).toMatchObject({ mimetype: "audio/ogg; codecs=opus", seconds: 2 });
  expect(voice.sha256).not.toBe(sha(wav));
  const probe = Bun.spawnSync(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,channels", "-of", "csv=p=0", d.store.localPath(voice.sha256)]);
  expect(probe.stdout.toString().trim()).toBe("opus,1");
  // As a plain audio file it goes as it is.
  expect((await accept("audio", wav)).sha256).toBe(sha(wav));

  const mp4 = await ffmpegOut(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "3", "-pix_fmt", "yuv420p", "-movflags", "frag_keyframe+empty_moov", "-f", "mp4"]);
  const video = await accept("video", mp4);
  expect(video).toMatchObject({ mimetype: "video/mp4", width: 320, height: 240, seconds: 3 });
  expect(await sharp(Buffer.from(video.thumbnail!, "base64")).metadata()).toMatchObject({ format: "jpeg", width: 96, height: 72 });
});

test("without ffmpeg a voice note that is not Ogg Opus is 422 MEDIA_CONVERSION_UNAVAILABLE and nothing is kept", async () => {
  const media = new MediaFiles({ messages: d.messages, store: d.store, maxBytes: 1024 * 1024, prepare: new MediaPreparer(ffmpegTools("/nonexistent/ffmpeg")), link: d.link, requestTimeoutMs: 200, channelWaitMs: 0, log: silentLogger, sessionOf: async () => null });
  const mp3 = Buffer.concat([Buffer.from("ID3\x03\x00\x00\x00\x00\x00\x00", "latin1"), Buffer.from([0xff, 0xfb, 0x90, 0x64]), Buffer.alloc(400)]);
  await expect(media.accept({ type: "voice", bytes: [mp3], field: "media" })).rejects.toMatchObject({ code: "MEDIA_CONVERSION_UNAVAILABLE" });
  expect(d.store.size(sha(mp3))).toBeNull();
});

test("retention: files of messages older than MEDIA_KEEP_DAYS are removed and their media is expired", async () => {
  const { s, launch } = await readySession();
  const bytes = Buffer.from("%PDF-1.4\n% kept a while\n%%EOF\n");
  await incomingDocument(s, launch, "OLD", bytes);
  await d.sessions.reports.mediaIn(s.id, launch, "OLD", [bytes] as never);
  expect(await d.sessions.media.expire(new Date(Date.now() - 60_000))).toBe(0);
  expect(await d.sessions.media.expire(new Date(Date.now() + 60_000))).toBeGreaterThanOrEqual(1);
  expect((await d.messages.byId(s.id, "OLD"))!.media).toMatchObject({ state: "expired" });
  await expect(d.sessions.media.file(s, "OLD")).rejects.toMatchObject({ code: "MEDIA_NOT_FOUND" });
});

test("a file still on its way after the sandbox stopped is failed by the sweep, and its message announced", async () => {
  const { s, launch } = await readySession();
  const bytes = Buffer.from("%PDF-1.4\n% never delivered\n%%EOF\n");
  await incomingDocument(s, launch, "STRANDED", bytes);
  expect(await d.sessions.media.failStale(new Date(Date.now() - 60_000))).toBe(0);
  expect(await d.sessions.media.failStale(new Date(Date.now() + 60_000))).toBeGreaterThanOrEqual(1);
  expect((await d.messages.byId(s.id, "STRANDED"))!.media).toMatchObject({ state: "failed", reason: "the file was not delivered by the session's sandbox" });
});

test("a download asked for later: stored without a second announcement; a file on its way keeps its one; no key leaves the state as it was (404)", async () => {
  // A webhook URL, so that announcements are written (nothing listens there: they stay queued).
  const { s, launch } = await readySession("http://127.0.0.1:9/hook");
  d.link.connected.add(s.id);
  const announced = async (id: string) => {
    const rows = (await d.db.db.execute(sql`select body from webhook_deliveries where session_id = ${s.id}::uuid and event = 'message.received'`)) as unknown;
    const list = (Array.isArray(rows) ? rows : (rows as { rows: unknown[] }).rows) as { body: string }[];
    return list.map((r) => JSON.parse(r.body).data).filter((m) => m.id === id).map((m) => m.media.state);
  };
  const bytes = Buffer.from("%PDF-1.4\n% asked for later\n%%EOF\n");
  await incomingDocument(s, launch, "LATER", bytes);
  await d.sessions.media.failed(s, "LATER", "download failed: expired");
  expect(await announced("LATER")).toEqual(["failed"]);
  // The sandbox brings the file while the call waits, as the real one does over the channel.
  d.link.answer = async (_id, req) => {
    expect(req).toEqual({ type: "download", id: "LATER" });
    expect((await d.messages.byId(s.id, "LATER"))!.media).toMatchObject({ state: "pending" });
    await d.sessions.reports.mediaIn(s.id, launch, "LATER", [bytes] as never);
    return { stored: true };
  };
  const row = await d.sessions.media.download(s, "LATER");
  expect(row.media).toMatchObject({ state: "stored", sha256: sha(bytes) });
  expect(row.media!.reason).toBeUndefined();
  expect(await announced("LATER")).toEqual(["failed"]);
  // Stored, and retention counts from now: an expiry sweep for files older than a minute spares it.
  expect(await d.sessions.media.expire(new Date(Date.now() - 60_000))).toBe(0);

  // Still on its way (never announced): asked again, it is announced once, when it comes.
  await incomingDocument(s, launch, "ONWAY", bytes);
  d.link.answer = async () => {
    await d.sessions.reports.mediaIn(s.id, launch, "ONWAY", [bytes] as never);
    return { stored: true };
  };
  await d.sessions.media.download(s, "ONWAY");
  expect(await announced("ONWAY")).toEqual(["stored"]);

  // The sandbox has no key for it: 404, and the file's state is as it was.
  await d.sessions.media.expire(new Date(Date.now() + 60_000));
  d.link.answer = async () => {
    throw new ChannelError("MEDIA_UNKNOWN", "no key");
  };
  await expect(d.sessions.media.download(s, "LATER")).rejects.toMatchObject({ code: "MEDIA_NOT_FOUND" });
  expect((await d.messages.byId(s.id, "LATER"))!.media).toMatchObject({ state: "expired" });
});
