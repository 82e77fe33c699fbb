// The machine's own limit for bench/media.ts's throughput figure: one process encrypts a file as
// a WhatsApp client does and uploads it to the emulated media server, with nothing else in the
// way (no API, no sandbox, no Baileys, no channel). Then, for a second figure, it downloads the
// upload again and checks and decrypts it as the receiving contact does.
//
// The encryption (written here from WhatsApp's published scheme, not taken from Baileys): a
// fresh 32-byte media key is expanded by HKDF-SHA256 (empty salt, info "WhatsApp Document Keys")
// into 112 bytes: IV (0-16), AES-256 key (16-48), MAC key (48-80). The file is AES-256-CBC
// encrypted (PKCS#7 padding) and followed by the first 10 bytes of HMAC-SHA256(MAC key, IV ||
// ciphertext). The upload is named by the base64url sha256 of that (ciphertext and MAC), as
// `POST https://<host>/mms/document/<encSha256>?auth=<media_conn auth>&token=<encSha256>`; the
// sha256 of the plaintext is computed too, as a sender must put it in the message.
//
// Usage (bench/media.ts runs it): MEDIA_CA=<pem> bun bench/media-baseline.ts <media socket> <host> <auth> <MiB> [variants]
// It first does one unmeasured 1 MiB round (code compiled, as in the API's warm path), then
// prints one JSON line: {bytes, encryptMs, uploadMs, downloadDecryptMs}.
// With a fifth argument `variants` (bench/media-profile.ts), the line also has what Baileys' way
// of sending costs against the in-memory one, on the same bytes and server:
// - fileEncryptMs: encrypting as Baileys' encryptedStream does, chunk by chunk (64 KiB, as a
//   file stream reads) into a temporary file (AES-CBC, HMAC and both sha256 updated per chunk);
// - fileUploadStreamMs: uploading that file as Baileys' uploadWithFetch does on Bun, a
//   Readable.toWeb(createReadStream(file)) body (chunked, no length);
// - fileUploadBunFileMs: uploading the same file as a Bun.file body (its length known).
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";

const [socket, host, auth, mib, variants] = process.argv.slice(2);
const ca = process.env.MEDIA_CA;
if (!socket || !host || !auth || !mib || !ca) throw new Error("usage: MEDIA_CA=<pem> bun bench/media-baseline.ts <media socket> <host> <auth> <MiB>");
const INFO = "WhatsApp Document Keys";

const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};

function expand(mediaKey: Uint8Array) {
  const k = Buffer.from(hkdfSync("sha256", mediaKey, Buffer.alloc(0), Buffer.from(INFO), 112));
  return { iv: k.subarray(0, 16), cipherKey: k.subarray(16, 48), macKey: k.subarray(48, 80) };
}

function encrypt(plain: Buffer) {
  const mediaKey = randomBytes(32);
  const { iv, cipherKey, macKey } = expand(mediaKey);
  const cipher = createCipheriv("aes-256-cbc", cipherKey, iv);
  const enc = Buffer.concat([cipher.update(plain), cipher.final()]);
  const mac = createHmac("sha256", macKey).update(iv).update(enc).digest().subarray(0, 10);
  const body = Buffer.concat([enc, mac]);
  return { mediaKey, body, fileSha256: sha256(plain), fileEncSha256: sha256(body) };
}

function decrypt(body: Uint8Array, mediaKey: Uint8Array, fileEncSha256: Buffer, fileSha256: Buffer): Buffer {
  if (!sha256(body).equals(fileEncSha256)) throw new Error("the download is not the upload");
  const { iv, cipherKey, macKey } = expand(mediaKey);
  const enc = body.subarray(0, body.length - 10);
  const mac = createHmac("sha256", macKey).update(iv).update(enc).digest().subarray(0, 10);
  if (!timingSafeEqual(mac, body.subarray(body.length - 10))) throw new Error("MAC mismatch");
  const decipher = createDecipheriv("aes-256-cbc", cipherKey, iv);
  const plain = Buffer.concat([decipher.update(enc), decipher.final()]);
  if (!sha256(plain).equals(fileSha256)) throw new Error("plaintext sha256 mismatch");
  return plain;
}

/** Through the media server's unix socket and its test CA, as a sandbox reaches it (sandbox/media-fetch.ts). */
const media = (path: string, init: RequestInit = {}) => fetch(`https://${host}${path}`, { ...init, unix: socket, tls: { ca } } as RequestInit);

async function round(bytes: number) {
  const plain = randomBytes(bytes);
  const t0 = performance.now();
  const e = encrypt(plain);
  const t1 = performance.now();
  const name = e.fileEncSha256.toString("base64url");
  const res = await media(`/mms/document/${name}?auth=${encodeURIComponent(auth!)}&token=${name}`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream", origin: "https://web.whatsapp.com" },
    body: e.body,
  });
  if (!res.ok) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
  const { direct_path } = (await res.json()) as { direct_path: string };
  const t2 = performance.now();
  const down = await media(direct_path);
  if (!down.ok) throw new Error(`download answered ${down.status}`);
  decrypt(new Uint8Array(await down.arrayBuffer()), e.mediaKey, e.fileEncSha256, e.fileSha256);
  const t3 = performance.now();
  return { bytes, encryptMs: t1 - t0, uploadMs: t2 - t1, downloadDecryptMs: t3 - t2 };
}

/** Baileys' encryptedStream, reduced: chunk by chunk into a file, hashes and MAC as it goes. */
async function encryptToFile(plain: Buffer, path: string): Promise<string> {
  const { iv, cipherKey, macKey } = expand(randomBytes(32));
  const out = createWriteStream(path);
  const aes = createCipheriv("aes-256-cbc", cipherKey, iv);
  const hmac = createHmac("sha256", macKey).update(iv);
  const sha256Plain = createHash("sha256");
  const sha256Enc = createHash("sha256");
  const onChunk = async (buff: Buffer) => {
    sha256Enc.update(buff);
    hmac.update(buff);
    if (!out.write(buff)) await once(out, "drain");
  };
  for (let i = 0; i < plain.length; i += 65536) {
    const data = plain.subarray(i, i + 65536);
    sha256Plain.update(data);
    await onChunk(aes.update(data));
  }
  await onChunk(aes.final());
  const mac = hmac.digest().subarray(0, 10);
  sha256Enc.update(mac);
  sha256Plain.digest();
  out.end(mac);
  await once(out, "finish");
  return sha256Enc.digest("base64url");
}

async function upload(name: string, body: BodyInit): Promise<void> {
  const res = await media(`/mms/document/${name}?auth=${encodeURIComponent(auth!)}&token=${name}`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream", origin: "https://web.whatsapp.com" },
    body,
    duplex: "half",
  } as RequestInit);
  if (!res.ok) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
  await res.json();
}

async function fileRound(bytes: number) {
  const dir = mkdtempSync(join(tmpdir(), "media-baseline-"));
  try {
    const path = join(dir, "enc");
    const plain = randomBytes(bytes);
    const t0 = performance.now();
    const name = await encryptToFile(plain, path);
    const t1 = performance.now();
    await upload(name, Readable.toWeb(createReadStream(path)) as unknown as ReadableStream);
    const t2 = performance.now();
    await upload(name, Bun.file(path));
    const t3 = performance.now();
    return { fileEncryptMs: t1 - t0, fileUploadStreamMs: t2 - t1, fileUploadBunFileMs: t3 - t2 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const size = Math.round(Number(mib) * 1024 * 1024);
await round(1024 * 1024);
if (variants) await fileRound(1024 * 1024);
const result = await round(size);
console.log(JSON.stringify(variants ? { ...result, ...(await fileRound(size)) } : result));
