// Media against a real Baileys client: the emulator's HTTPS media server (test CA, media_conn,
// uploads with auth and hash checks, downloads with ranges, expiry), devices sending media that
// contacts download and verify, and contacts sending every media type that Baileys downloads and
// decrypts with its own code.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { downloadMediaMessage, prepareWAMessageMedia, WA_CERT_DETAILS, type BinaryNode, type WAMessage } from "@whiskeysockets/baileys";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { emulatorControl } from "../support/emulator";
import { startEmulator, trustRoot, type RunningEmulator } from ".";
import { linkClient, trustMediaServer, type TestClient } from "./test-client";

const realRoot = Buffer.from(WA_CERT_DETAILS.PUBLIC_KEY);
let emu: RunningEmulator;
const clients: TestClient[] = [];
let seq = 0;
const newNumber = () => `4916${String(Date.now()).slice(-7)}${String(seq++).padStart(3, "0")}`;
const control = (method: string, path: string, body?: unknown) => emulatorControl(emu)(method, path, body);
const hex = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
const b64url = (data: Uint8Array) => createHash("sha256").update(data).digest("base64url");

async function linked(phone: string) {
  const { second } = await linkClient(emu.wsUrl, (qr) => control("POST", "/control/scan", { qr, phoneNumber: phone }), (c) => clients.push(c));
  return second;
}

async function contact() {
  const n = newNumber();
  expect((await control("POST", "/control/numbers", { add: [n] })).status).toBe(200);
  return n;
}

async function received(number: string) {
  const res = await control("GET", `/control/phones/${number}/received`);
  expect(res.status).toBe(200);
  return res.body.messages as Record<string, any>[];
}

/** A real PNG of the given size (so Baileys can make a thumbnail and read its dimensions). */
function png(width: number, height: number): Buffer {
  const img = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) img.data.set([(i * 7) % 256, (i * 13) % 256, (i * 29) % 256, 255], i * 4);
  return PNG.sync.write(img);
}

/** A WAV file of silence, `seconds` long (music-metadata reads its duration). */
function wav(seconds: number, rate = 8000): Buffer {
  const n = rate * seconds * 2;
  const b = Buffer.alloc(44 + n);
  b.write("RIFF", 0);
  b.writeUInt32LE(36 + n, 4);
  b.write("WAVEfmt ", 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write("data", 36);
  b.writeUInt32LE(n, 40);
  return b;
}

/** The media_conn answer the client gets (auth token, host), asked over its own socket. */
async function mediaConn(c: TestClient): Promise<BinaryNode> {
  const res = await c.sock.query({ tag: "iq", attrs: { type: "set", xmlns: "w:m", to: "s.whatsapp.net" }, content: [{ tag: "media_conn", attrs: {} }] });
  return (res.content as BinaryNode[]).find((n) => n.tag === "media_conn")!;
}

/** The `type` and enc `mediatype` of the stanzas a client's socket receives, by message id. */
function stanzas(c: TestClient): Map<string, { type?: string; mediatype?: string }> {
  const seen = new Map<string, { type?: string; mediatype?: string }>();
  c.sock.ws.on("CB:message", (n: BinaryNode) => {
    const enc = Array.isArray(n.content) ? n.content.find((x) => x.tag === "enc") : undefined;
    seen.set(n.attrs.id!, { type: n.attrs.type, mediatype: enc?.attrs.mediatype });
  });
  return seen;
}

const upserted = (c: TestClient, id: string) => () => c.messages.find((m) => m.key.id === id && m.message);

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "wa-emu-media-"));
  chmodSync(dir, 0o755);
  emu = await startEmulator({ logLevel: (process.env.EMULATOR_LOG_LEVEL as "info") || "silent", mediaSocketPath: join(dir, "media.sock") });
  trustRoot(emu.trustRoot);
  trustMediaServer(emu);
});

afterAll(async () => {
  for (const c of clients) c.end();
  await emu.stop();
  WA_CERT_DETAILS.PUBLIC_KEY = realRoot;
});

describe("the media server", () => {
  test("is HTTPS on loopback with its own CA, announced by media_conn with an upload token", async () => {
    expect(emu.mediaUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(emu.mediaCa).toStartWith("-----BEGIN CERTIFICATE-----");
    expect(existsSync(emu.mediaSocketPath!)).toBe(true);
    const c = await linked(newNumber());
    const conn = await mediaConn(c);
    expect(conn.attrs).toEqual({ auth: expect.any(String), ttl: "300", auth_ttl: expect.any(String), max_buckets: "12" });
    const hosts = (conn.content as BinaryNode[]).filter((n) => n.tag === "host");
    expect(hosts.map((h) => h.attrs.hostname)).toEqual([new URL(emu.mediaUrl).host]);
    // Baileys' own parse of it.
    const parsed = await c.sock.refreshMediaConn(true);
    expect(parsed.hosts[0]!.hostname).toBe(new URL(emu.mediaUrl).host);
    expect(parsed.ttl).toBe(300);
    expect(c.sock.getMediaHost()).toBe(new URL(emu.mediaUrl).host);
    // A client that does not trust the test CA cannot talk to it.
    await expect(fetch(`https://localhost:${new URL(emu.mediaUrl).port}/`)).rejects.toThrow();
  });

  test("an upload needs a valid auth token (401) and the body's hash in its path (400); files are served by direct path, with ranges", async () => {
    const c = await linked(newNumber());
    const auth = (await mediaConn(c)).attrs.auth!;
    const body = randomBytes(1000);
    const name = b64url(body);
    const post = (query: string, data: Buffer = body) => fetch(`${emu.mediaUrl}/mms/image/${name}${query}`, { method: "POST", body: new Uint8Array(data) });
    expect((await post("")).status).toBe(401);
    expect((await post(`?auth=wrong&token=${name}`)).status).toBe(401);
    expect((await post(`?auth=${encodeURIComponent(auth)}&token=${name}`, randomBytes(1000))).status).toBe(400);
    const ok = await post(`?auth=${encodeURIComponent(auth)}&token=${name}`);
    expect(ok.status).toBe(200);
    const { url, direct_path } = (await ok.json()) as { url: string; direct_path: string };
    expect(direct_path).toMatch(/^\/v\/t62\.7118-24\/\S+\.enc\?/);
    expect(url).toBe(emu.mediaUrl + direct_path);

    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(body)).toBe(true);
    const part = await fetch(url, { headers: { Range: "bytes=16-47" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe("bytes 16-47/1000");
    expect(Buffer.from(await part.arrayBuffer()).equals(body.subarray(16, 48))).toBe(true);
    const open = await fetch(url, { headers: { Range: "bytes=992-" } });
    expect(Buffer.from(await open.arrayBuffer()).equals(body.subarray(992))).toBe(true);
    const tail = await fetch(url, { headers: { Range: "bytes=-10" } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(body.subarray(990))).toBe(true);
    expect((await fetch(url, { headers: { Range: "bytes=1000-" } })).status).toBe(416);
    expect((await fetch(`${emu.mediaUrl}/v/t62.7118-24/nothing_n.enc?ccb=11-4`)).status).toBe(404);

    // Through the unix socket (as a sandbox without a network reaches it), with the same certificate.
    const viaSocket = await fetch(url, { unix: emu.mediaSocketPath, tls: { ca: emu.mediaCa } } as BunFetchRequestInit);
    expect(Buffer.from(await viaSocket.arrayBuffer()).equals(body)).toBe(true);
    const byName = `https://localhost${direct_path}`;
    expect((await fetch(byName, { unix: emu.mediaSocketPath, tls: { ca: emu.mediaCa } } as BunFetchRequestInit)).status).toBe(200);
    await expect(fetch(byName, { unix: emu.mediaSocketPath } as BunFetchRequestInit)).rejects.toThrow();
  });
});

describe("a linked device sends media", () => {
  test("an image: the contact downloads it, checks and decrypts it; expired, it answers 404", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const to = await contact();
    const image = png(40, 30);
    const sent = (await c.sock.sendMessage(`${to}@s.whatsapp.net`, { image, caption: "a picture", mimetype: "image/png" }))!;
    const id = sent.key.id!;
    expect(sent.message?.imageMessage?.url).toStartWith(emu.mediaUrl);
    const got = await c.waitFor(async () => (await received(to)).find((m) => m.id === id), 10000, "the contact to receive it");
    expect(got).toEqual({
      id,
      from: phone,
      type: "image",
      caption: "a picture",
      media: { mimetype: "image/png", size: image.length, sha256: hex(image), width: 40, height: 30, thumbnailSize: expect.any(Number) },
      timestamp: expect.any(Number),
    });
    expect(got.media.thumbnailSize).toBe(sent.message!.imageMessage!.jpegThumbnail!.length);

    const url = sent.message!.imageMessage!.url!;
    expect((await fetch(url)).status).toBe(200);
    expect((await control("POST", "/control/media/expire", { sha256: hex(image) })).body).toEqual({ success: true, expired: 1 });
    expect((await fetch(url)).status).toBe(404);
    expect(await control("POST", "/control/media/expire", { sha256: hex(image) })).toMatchObject({ status: 404, body: { code: "UNKNOWN_MEDIA" } });
  });

  test("a document keeps its file name, mimetype and caption", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const to = await contact();
    const doc = Buffer.from("%PDF-1.4\n" + "x".repeat(5000) + "\n%%EOF\n");
    const sent = (await c.sock.sendMessage(`${to}@s.whatsapp.net`, { document: doc, mimetype: "application/pdf", fileName: "report.pdf", caption: "the report" }))!;
    const got = await c.waitFor(async () => (await received(to)).find((m) => m.id === sent.key.id), 10000, "the document");
    expect(got).toEqual({
      id: sent.key.id,
      from: phone,
      type: "document",
      caption: "the report",
      media: { mimetype: "application/pdf", size: doc.length, sha256: hex(doc), fileName: "report.pdf" },
      timestamp: expect.any(Number),
    });
  });

  test("a file whose MAC does not verify under the message's media key is not believed", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const to = await contact();
    const image = png(8, 8);
    const prepared = await prepareWAMessageMedia({ image, mimetype: "image/png" }, { upload: c.sock.waUploadToServer });
    prepared.imageMessage!.mediaKey = randomBytes(32);
    const id = await c.sock.relayMessage(`${to}@s.whatsapp.net`, prepared, {});
    const got = await c.waitFor(async () => (await received(to)).find((m) => m.id === id), 10000, "the tampered image");
    expect(got.type).toBe("image");
    expect(got.media.error).toMatch(/MAC/);
    expect(got.media.sha256).toBeUndefined();
  });
});

describe("a contact sends media", () => {
  const files: Record<string, { data: Buffer; mimetype: string; fileName?: string; caption?: string }> = {
    image: { data: png(64, 48), mimetype: "image/png", caption: "look" },
    video: { data: randomBytes(40_000), mimetype: "video/mp4", caption: "watch" },
    audio: { data: wav(1), mimetype: "audio/wav" },
    voice: { data: randomBytes(3_000), mimetype: "audio/ogg; codecs=opus" },
    document: { data: Buffer.from("line one\nline two\n"), mimetype: "text/plain", fileName: "notes.txt", caption: "my notes" },
    sticker: { data: randomBytes(2_000), mimetype: "image/webp" },
  };

  test("every media type: Baileys downloads and decrypts the very bytes sent", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const seen = stanzas(c);
    const from = await contact();
    for (const [type, f] of Object.entries(files)) {
      const res = await control("POST", "/control/messages", {
        from,
        to: phone,
        type,
        media: { data: f.data.toString("base64"), mimetype: f.mimetype, ...(f.fileName ? { fileName: f.fileName } : {}) },
        ...(f.caption ? { caption: f.caption } : {}),
      });
      expect(res).toEqual({ status: 200, body: { id: expect.any(String) } });
      const m = (await c.waitFor(upserted(c, res.body.id), 10000, `the ${type}`)) as WAMessage;
      expect(m.key).toMatchObject({ remoteJid: `${from}@s.whatsapp.net`, fromMe: false });
      const msg = m.message!;
      const content =
        type === "image" ? msg.imageMessage
        : type === "video" ? msg.videoMessage
        : type === "audio" || type === "voice" ? msg.audioMessage
        : type === "document" ? msg.documentWithCaptionMessage?.message?.documentMessage
        : msg.stickerMessage;
      expect(content).toBeTruthy();
      expect(content!.url).toStartWith(emu.mediaUrl);
      expect(content!.directPath).toStartWith("/v/");
      expect(content!.mimetype).toBe(f.mimetype);
      expect(Buffer.from(content!.fileSha256!).toString("hex")).toBe(hex(f.data));
      expect(Number(content!.fileLength)).toBe(f.data.length);
      expect(Number(content!.mediaKeyTimestamp)).toBeGreaterThan(0);
      if (f.caption) expect((content as { caption?: string }).caption).toBe(f.caption);
      if (type === "voice") expect(msg.audioMessage!.ptt).toBe(true);
      if (type === "audio") expect([msg.audioMessage!.ptt ?? false, msg.audioMessage!.seconds]).toEqual([false, 1]);
      if (type === "document") expect(msg.documentWithCaptionMessage!.message!.documentMessage!.fileName).toBe("notes.txt");
      if (type === "image") {
        expect([msg.imageMessage!.width, msg.imageMessage!.height]).toEqual([64, 48]);
        expect(msg.imageMessage!.jpegThumbnail?.length).toBeGreaterThan(0);
      }
      expect(seen.get(res.body.id)).toEqual({ type: "media", mediatype: type === "voice" ? "ptt" : type });
      const bytes = await downloadMediaMessage(m, "buffer", {});
      expect(hex(bytes)).toBe(hex(f.data));
    }
  });

  test("expired media answers 404 to the device's download", async () => {
    const phone = newNumber();
    const c = await linked(phone);
    const from = await contact();
    const data = png(20, 20);
    const res = await control("POST", "/control/messages", { from, to: phone, type: "image", media: { data: data.toString("base64"), mimetype: "image/png" } });
    const m = (await c.waitFor(upserted(c, res.body.id), 10000, "the image")) as WAMessage;
    expect(hex(await downloadMediaMessage(m, "buffer", {}))).toBe(hex(data));
    expect((await control("POST", "/control/media/expire", { sha256: hex(data) })).status).toBe(200);
    const err = await downloadMediaMessage(m, "buffer", {}).then(() => undefined, (e: { output?: { statusCode?: number } }) => e);
    expect(err?.output?.statusCode).toBe(404);
  });

  test("bad media input answers 400", async () => {
    const phone = newNumber();
    await linked(phone);
    const from = await contact();
    const post = (body: Record<string, unknown>) => control("POST", "/control/messages", { from, to: phone, ...body });
    const media = { data: Buffer.from("hello").toString("base64"), mimetype: "text/plain" };
    expect(await post({ type: "hologram", media })).toMatchObject({ status: 400, body: { code: "INVALID_TYPE" } });
    expect(await post({ type: "image" })).toMatchObject({ status: 400, body: { code: "INVALID_MEDIA" } });
    expect(await post({ type: "image", media: { ...media, data: "not base64!" } })).toMatchObject({ status: 400, body: { code: "INVALID_MEDIA" } });
    expect(await post({ type: "image", media: { ...media, data: "" } })).toMatchObject({ status: 400, body: { code: "INVALID_MEDIA" } });
    expect(await post({ type: "image", media: { ...media, mimetype: "png" } })).toMatchObject({ status: 400, body: { code: "INVALID_MEDIA" } });
    expect(await post({ type: "document", media: { ...media, fileName: 7 } })).toMatchObject({ status: 400, body: { code: "INVALID_MEDIA" } });
    expect(await control("POST", "/control/media/expire", { sha256: "abc" })).toMatchObject({ status: 400, body: { code: "INVALID_SHA256" } });
    expect(await control("POST", "/control/media/expire", { sha256: "0".repeat(64) })).toMatchObject({ status: 404, body: { code: "UNKNOWN_MEDIA" } });
  });
});
