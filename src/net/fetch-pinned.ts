// GET of a client-given URL (a media file to send) through the SSRF guard: each hop's socket
// connects only to an address checked at that moment (pinnedLookup), redirects are followed at
// most `maxRedirects` times and each target is judged again, one deadline covers the whole
// transfer, and the body is handed over as a stream (the caller stops reading at its limit).
import http from "node:http";
import https from "node:https";
import { isIpLiteralHost, isForbiddenAddress, type Classifier, type Resolver } from "./address-guard";
import { codedError, pinnedLookup } from "./pinned-request";

export interface FetchPinnedOptions {
  allowPrivate: boolean;
  /** For connect, headers and body together. */
  timeoutMs: number;
  maxRedirects: number;
  resolve?: Resolver;
  classify?: Classifier;
}

/** The guard refused a hop (the first URL or a redirect's target): nothing was sent to it. */
export class FetchRefused extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** The file could not be had: unreachable, too slow, an HTTP error, too many redirects. */
export class FetchFailed extends Error {}

export interface FetchedFile {
  /** The URL the body came from, after redirects. */
  url: URL;
  contentType: string | null;
  /** What the server announced, when it did. */
  contentLength: number | null;
  body: AsyncIterable<Uint8Array>;
  /** Stops the transfer (a body not read to its end). */
  abort(): void;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export async function fetchPinned(start: URL, opts: FetchPinnedOptions): Promise<FetchedFile> {
  const deadline = Date.now() + opts.timeoutMs;
  let url = start;
  for (let hop = 0; ; hop++) {
    const res = await request(url, opts, deadline);
    const status = res.statusCode ?? 0;
    if (REDIRECTS.has(status) && res.headers.location) {
      res.destroy();
      if (hop >= opts.maxRedirects) throw new FetchFailed(`more than ${opts.maxRedirects} redirects`);
      try {
        url = new URL(res.headers.location, url);
      } catch {
        throw new FetchFailed("a redirect to an invalid URL");
      }
      continue;
    }
    if (status < 200 || status > 299) {
      res.destroy();
      throw new FetchFailed(`the server answered HTTP ${status}`);
    }
    const length = Number(res.headers["content-length"]);
    return {
      url,
      contentType: res.headers["content-type"] ?? null,
      contentLength: Number.isSafeInteger(length) && length >= 0 ? length : null,
      body: bodyOf(res),
      abort: () => res.destroy(),
    };
  }
}

/** The body's chunks; a transfer cut short (the deadline, a reset) is a FetchFailed. */
async function* bodyOf(res: http.IncomingMessage): AsyncIterable<Uint8Array> {
  try {
    for await (const chunk of res) yield chunk as Uint8Array;
  } catch (err) {
    throw new FetchFailed(`the transfer broke off (${(err as Error).message})`);
  } finally {
    res.destroy();
  }
}

/** One GET, its response's headers; the socket stays under the deadline until the body is read. */
function request(url: URL, opts: FetchPinnedOptions, deadline: number): Promise<http.IncomingMessage> {
  if (url.protocol !== "http:" && url.protocol !== "https:") return Promise.reject(new FetchRefused(`a redirect to a ${url.protocol} URL`));
  if (url.username || url.password) return Promise.reject(new FetchRefused("credentials in the URL are not allowed"));
  // A literal never reaches `lookup`, so it is judged here, before any socket exists.
  if (isIpLiteralHost(url.hostname) && !opts.allowPrivate) {
    const why = (opts.classify ?? isForbiddenAddress)(url.hostname);
    if (why) return Promise.reject(new FetchRefused(`forbidden address (${why})`));
  }
  const remaining = deadline - Date.now();
  if (remaining <= 0) return Promise.reject(new FetchFailed(`no file within ${opts.timeoutMs} ms`));
  return new Promise((resolve, reject) => {
    const client = url.protocol === "https:" ? https : http;
    const req = client.request({
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: url.port || undefined,
      path: url.pathname + url.search,
      method: "GET",
      headers: { accept: "*/*", "user-agent": "wa-session-api" },
      lookup: pinnedLookup(opts.allowPrivate, opts.resolve, opts.classify),
      agent: false,
    });
    const timer = setTimeout(() => req.destroy(codedError("TIMEOUT", `no file within ${opts.timeoutMs} ms`)), remaining);
    req.on("response", (res) => {
      res.on("close", () => clearTimeout(timer));
      // A response destroyed unread (too large, a redirect) may still report an error: the body's
      // reader sees its own errors, and an unheard one must not take the process down.
      res.on("error", () => {});
      resolve(res);
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err.code === "FORBIDDEN_ADDRESS" ? new FetchRefused(err.message) : new FetchFailed(err.code === "TIMEOUT" ? err.message : `unreachable (${err.code ?? err.message})`));
    });
    req.end();
  });
}
