// Requests whose socket connects only to an address the SSRF guard has just approved (webhook
// POSTs here, media downloads in fetch-pinned.ts).
// Checking a URL and then letting fetch() resolve it again leaves a DNS-rebinding window (the
// name can answer a public address to the check and 127.0.0.1 to the connect). Here the resolve
// happens once, inside the socket's own `lookup`, and the checked addresses are what it connects to;
// the name still drives the Host header and TLS SNI/certificate checks.
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { isForbiddenAddress, isIpLiteralHost, resolveAllowed, systemResolver, type Classifier, type Resolver } from "./address-guard";

export interface PinnedOptions {
  timeoutMs: number;
  allowPrivate: boolean;
  /**
   * Keep-alive agents to reuse connections (each made through the pinned lookup, so a pooled
   * socket is one to an address that was checked when it was opened); a fresh socket without.
   */
  agents?: { http: http.Agent; https: https.Agent };
}

/** Keep-alive agents whose new connections go through the pinned lookup. */
export function pinnedAgents(allowPrivate: boolean): { http: http.Agent; https: https.Agent } {
  const options = { keepAlive: true, maxSockets: 8, lookup: pinnedLookup(allowPrivate) };
  return { http: new http.Agent(options), https: new https.Agent(options) };
}

// The receiver's answer is not used; reading a little lets small replies finish cleanly
// while a hostile endless body cannot hold memory or the delivery.
const MAX_BODY_BYTES = 64 * 1024;

export function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** A `lookup` for http.request that resolves, refuses if any address is forbidden, and hands over the checked addresses. */
export function pinnedLookup(allowPrivate: boolean, resolve: Resolver = systemResolver, classify?: Classifier): LookupFunction {
  return (hostname, options, callback) => {
    resolveAllowed(hostname, allowPrivate, resolve, classify).then(
      (result) => {
        if (!result.ok) return callback(codedError(result.forbidden ? "FORBIDDEN_ADDRESS" : "ENOTFOUND", `${result.reason}`), "");
        const wanted = options.family === 4 || options.family === 6 ? result.addresses.filter((a) => a.family === options.family) : result.addresses;
        if (wanted.length === 0) return callback(codedError("ENOTFOUND", `host has no IPv${options.family} address`), "");
        // Node asks for one address or, when racing families, for all; either way only checked ones.
        if (options.all) callback(null, wanted);
        else callback(null, wanted[0].address, wanted[0].family);
      },
      (err: Error) => callback(err, ""),
    );
  };
}

/** POSTs `body` to `url` without following redirects; resolves with the status, whatever it is. */
export function postPinned(url: URL, body: string, headers: Record<string, string>, opts: PinnedOptions): Promise<{ status: number }> {
  if (url.protocol !== "http:" && url.protocol !== "https:") return Promise.reject(codedError("BAD_SCHEME", "URL must be http or https"));
  // A literal never reaches `lookup`, so it is judged here, before any socket exists.
  if (isIpLiteralHost(url.hostname) && !opts.allowPrivate) {
    const why = isForbiddenAddress(url.hostname);
    if (why) return Promise.reject(codedError("FORBIDDEN_ADDRESS", `address is forbidden (${why})`));
  }

  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null, status?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve({ status: status! });
    };

    const client = url.protocol === "https:" ? https : http;
    const req = client.request(
      {
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: url.port || undefined,
        path: url.pathname + url.search,
        method: "POST",
        headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
        lookup: pinnedLookup(opts.allowPrivate),
        agent: opts.agents ? opts.agents[url.protocol === "https:" ? "https" : "http"] : false,
      },
      (res) => {
        let read = 0;
        res.on("data", (chunk: Buffer) => {
          read += chunk.length;
          if (read < MAX_BODY_BYTES) return;
          res.destroy(); // too much to read: this connection is not reused
          finish(null, res.statusCode ?? 0);
        });
        // A body read to its end leaves the connection reusable.
        res.on("end", () => finish(null, res.statusCode ?? 0));
        res.on("error", (err) => finish(err));
      },
    );

    // One deadline for connect, headers and body; destroying the request ends every stage.
    const timer = setTimeout(() => {
      finish(codedError("TIMEOUT", `no answer within ${opts.timeoutMs} ms`));
      req.destroy();
    }, opts.timeoutMs);

    req.on("error", (err) => finish(err));
    req.end(body);
  });
}
