// WhatsApp's media server (mmg.whatsapp.net) on loopback: HTTPS with a test CA made at start.
// Devices learn its host and an upload token from the `media_conn` iq (iq-handlers.ts), upload
// encrypted files (`POST /mms/<type>/<encSha256>?auth=…&token=…`, answered with {url, direct_path})
// and download them by direct path (`GET`, with ranges). It stores only ciphertext, in memory; it
// learns the sha256 of a file's plaintext when the emulator itself encrypted or decrypted it, so
// `/control/media/expire` can name a file by its content.
import type { Server } from "bun";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EmulatorLog } from "./log";

/** How long (s) a device may use a media_conn answer before asking again, and how long its auth token works. */
export const MEDIA_CONN_TTL = 300;
export const MEDIA_AUTH_TTL = 21600;
export const MAX_UPLOAD = 128 * 1024 * 1024;
/** WhatsApp's path prefix for each upload type's direct paths (t62.<type>-24). */
const PATH_SEGMENT: Record<string, string> = {
  image: "t62.7118-24",
  video: "t62.7161-24",
  audio: "t62.7117-24",
  document: "t62.7119-24",
  "md-app-state": "t62.7117-24",
};

export interface TestCa {
  /** PEM of the CA certificate clients trust. */
  ca: string;
  /** PEM of the server certificate (SAN IP:127.0.0.1, DNS:localhost) and its key. */
  cert: string;
  key: string;
}

/** A CA and a server certificate it signed, made with the `openssl` CLI in a temporary folder. */
export async function makeTestCa(): Promise<TestCa> {
  const dir = mkdtempSync(join(tmpdir(), "wa-emu-ca-"));
  const openssl = async (...args: string[]) => {
    let proc;
    try {
      proc = Bun.spawn(["openssl", ...args], { cwd: dir, stdout: "ignore", stderr: "pipe" });
    } catch (err) {
      throw new Error(`the media server needs the openssl CLI for its test CA: ${String(err)}`);
    }
    if ((await proc.exited) !== 0) throw new Error(`openssl ${args[0]} failed: ${await new Response(proc.stderr).text()}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  try {
    await openssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/O=WhatsApp emulator/CN=WhatsApp emulator test CA",
      "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    await openssl("req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/O=WhatsApp emulator/CN=127.0.0.1");
    writeFileSync(
      join(dir, "server.ext"),
      "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    );
    await openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", `0x${randomBytes(12).toString("hex")}`,
      "-days", "30", "-out", "server.pem", "-extfile", "server.ext");
    const read = (f: string) => readFileSync(join(dir, f), "utf8");
    return { ca: read("ca.pem"), cert: read("server.pem"), key: read("server.key") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An encrypted file the server holds. */
export interface MediaFile {
  /** The direct path it is served under (path and query, as WhatsApp gives them). */
  directPath: string;
  /** The path part of directPath: what a download is looked up by. */
  path: string;
  /** The upload type from `/mms/<type>/…` (image, video, audio, document, …). */
  type: string;
  /** sha256 of the ciphertext (mac included), base64url: the name it was uploaded under. */
  encSha256: string;
  enc: Uint8Array;
  /** Lowercase hex sha256 of the plaintext, once the emulator encrypted or decrypted it. */
  sha256?: string;
  expired: boolean;
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest();
/** The form Baileys names uploads by (encodeBase64EncodedStringForUpload): base64url without padding. */
const uploadName = (b64: string) => b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

export class MediaServer {
  /** What media_conn announces: `127.0.0.1:<port>`. */
  host = "";
  private readonly tokens = new Map<string, number>();
  private readonly files = new Map<string, MediaFile>();
  private readonly byEncSha256 = new Map<string, MediaFile>();
  private readonly servers: Server<undefined>[] = [];

  private constructor(
    private readonly tls: TestCa,
    readonly socketPath: string | undefined,
    private readonly log: EmulatorLog,
  ) {}

  /** Starts it on a free loopback port (and on `socketPath`, if given), with a new test CA. */
  static async start(opts: { socketPath?: string; log: EmulatorLog }): Promise<MediaServer> {
    const media = new MediaServer(await makeTestCa(), opts.socketPath, opts.log);
    const serve = (where: { hostname: string; port: number } | { unix: string }) =>
      Bun.serve({ ...where, tls: { cert: media.tls.cert, key: media.tls.key }, maxRequestBodySize: MAX_UPLOAD + 1, fetch: (req) => media.handle(req) });
    const server = serve({ hostname: "127.0.0.1", port: 0 });
    media.servers.push(server);
    media.host = `127.0.0.1:${server.port}`;
    if (opts.socketPath) {
      rmSync(opts.socketPath, { force: true });
      media.servers.push(serve({ unix: opts.socketPath }));
      // Sandboxes run as an unmapped user: the socket must be open to others (it is local anyway).
      chmodSync(opts.socketPath, 0o666);
    }
    return media;
  }

  /** `https://127.0.0.1:<port>` */
  get url(): string {
    return `https://${this.host}`;
  }

  /** PEM of the CA that signed the server's certificate. */
  get ca(): string {
    return this.tls.ca;
  }

  /** A fresh upload token, as each media_conn answer carries one. */
  issueAuth(): string {
    const now = Date.now();
    for (const [t, until] of this.tokens) if (until < now) this.tokens.delete(t);
    const auth = randomBytes(32).toString("base64url");
    this.tokens.set(auth, now + MEDIA_AUTH_TTL * 1000);
    return auth;
  }

  private authorized(auth: string | null): boolean {
    const until = auth ? this.tokens.get(auth) : undefined;
    return until !== undefined && until >= Date.now();
  }

  /** Keeps encrypted bytes under a new direct path (the same file uploaded again keeps its path). */
  store(type: string, enc: Uint8Array): MediaFile {
    const encSha256 = sha256(enc).toString("base64url");
    const known = this.byEncSha256.get(encSha256);
    if (known && !known.expired) return known;
    const name = `${BigInt(`0x${randomBytes(8).toString("hex")}`)}_${BigInt(`0x${randomBytes(8).toString("hex")}`)}_n.enc`;
    const path = `/v/${PATH_SEGMENT[type] ?? "t62.7114-24"}/${name}`;
    const oe = Math.floor(Date.now() / 1000 + 30 * 86400).toString(16).toUpperCase();
    const directPath = `${path}?ccb=11-4&oh=01_${randomBytes(24).toString("base64url")}&oe=${oe}&_nc_sid=5e03e0`;
    const file: MediaFile = { directPath, path, type, encSha256, enc, expired: false };
    this.files.set(path, file);
    this.byEncSha256.set(encSha256, file);
    return file;
  }

  /** The file a URL or direct path names, unless unknown or expired (what a GET would get). */
  find(urlOrPath: string): MediaFile | undefined {
    let path: string;
    try {
      path = new URL(urlOrPath, this.url).pathname;
    } catch {
      return undefined;
    }
    const file = this.files.get(path);
    return file && !file.expired ? file : undefined;
  }

  /** Records the sha256 (hex) of a file's plaintext, once someone decrypted it and checked it. */
  knowPlaintext(file: MediaFile, sha256Hex: string): void {
    file.sha256 = sha256Hex;
  }

  /** Expires every file whose plaintext has this sha256: downloads answer 404. Returns how many. */
  expire(sha256Hex: string): number {
    let n = 0;
    for (const f of this.files.values()) {
      if (f.sha256 === sha256Hex && !f.expired) {
        f.expired = true;
        this.byEncSha256.delete(f.encSha256);
        n++;
      }
    }
    return n;
  }

  async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const upload = /^\/mms\/([a-z0-9-]+)\/([^/]+)$/.exec(url.pathname);
    if (upload) {
      if (req.method !== "POST") return Response.json({ error: "method not allowed" }, { status: 405, headers: { Allow: "POST" } });
      if (!this.authorized(url.searchParams.get("auth"))) {
        this.log.info("media upload refused: bad auth", { path: url.pathname });
        return Response.json({ error: "unauthorized: auth is missing, unknown or expired (fetch media_conn)" }, { status: 401 });
      }
      const length = Number(req.headers.get("content-length") ?? 0);
      if (length > MAX_UPLOAD) return Response.json({ error: "too large" }, { status: 413 });
      const body = new Uint8Array(await req.arrayBuffer());
      if (body.length === 0) return Response.json({ error: "empty body" }, { status: 400 });
      if (body.length > MAX_UPLOAD) return Response.json({ error: "too large" }, { status: 413 });
      let name: string;
      try {
        name = uploadName(decodeURIComponent(upload[2]!));
      } catch {
        return Response.json({ error: "bad file hash" }, { status: 400 });
      }
      if (sha256(body).toString("base64url") !== name) {
        this.log.info("media upload refused: hash mismatch", { path: url.pathname });
        return Response.json({ error: "the body's sha256 does not match the file hash in the path" }, { status: 400 });
      }
      const file = this.store(upload[1]!, body);
      this.log.debug("media uploaded", { type: file.type, bytes: body.length, directPath: file.directPath });
      return Response.json({ url: this.url + file.directPath, direct_path: file.directPath });
    }
    if (req.method !== "GET" && req.method !== "HEAD") return Response.json({ error: "not found" }, { status: 404 });
    const file = this.files.get(url.pathname);
    if (!file || file.expired) return new Response("Not Found", { status: 404 });
    return serveBytes(req, file.enc);
  }

  stop(): void {
    for (const s of this.servers) s.stop(true);
    if (this.socketPath) rmSync(this.socketPath, { force: true });
  }
}

/** The bytes, whole or the one range asked (`bytes=a-b`, `a-`, `-n`), as 200, 206 or 416. */
function serveBytes(req: Request, bytes: Uint8Array): Response {
  const data = bytes as Uint8Array<ArrayBuffer>;
  const size = data.length;
  const headers: Record<string, string> = { "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes" };
  const m = /^bytes=(\d*)-(\d*)$/.exec((req.headers.get("range") ?? "").trim());
  if (m && (m[1] !== "" || m[2] !== "")) {
    let start: number;
    let end: number;
    if (m[1] === "") {
      start = Math.max(0, size - Number(m[2]));
      end = size - 1;
    } else {
      start = Number(m[1]);
      end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    }
    if (start >= size || end < start) return new Response(null, { status: 416, headers: { ...headers, "Content-Range": `bytes */${size}` } });
    const part = data.subarray(start, end + 1);
    return new Response(req.method === "HEAD" ? null : part, {
      status: 206,
      headers: { ...headers, "Content-Range": `bytes ${start}-${end}/${size}`, "Content-Length": String(part.length) },
    });
  }
  return new Response(req.method === "HEAD" ? null : data, { status: 200, headers: { ...headers, "Content-Length": String(size) } });
}
