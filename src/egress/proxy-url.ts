// A session's proxy: `socks5://user:pass@host:port` or `http://user:pass@host:port` (HTTP
// CONNECT), credentials optional. Parsed once for the API's check and for the gateway's use;
// shown only masked (the password as `***`), never logged whole.
import ipaddr from "ipaddr.js";
import { isForbiddenAddress } from "../net/address-guard";

export interface ProxyRoute {
  scheme: "socks5" | "http";
  host: string;
  port: number;
  username?: string;
  password?: string;
}

export type ParsedProxy = { ok: true; proxy: ProxyRoute } | { ok: false; reason: string };

/** `allowPrivate`: ALLOW_PRIVATE_ADDRESSES; otherwise a loopback or private host (literal, or localhost) is refused. */
export function parseProxyUrl(raw: string, allowPrivate: boolean): ParsedProxy {
  if (raw.length > 2048) return { ok: false, reason: "is longer than 2048 characters" };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "is not a URL (socks5://user:pass@host:port or http://user:pass@host:port)" };
  }
  const scheme = url.protocol === "socks5:" ? "socks5" : url.protocol === "http:" ? "http" : null;
  if (!scheme) return { ok: false, reason: `the scheme must be socks5 or http, not ${url.protocol.replace(/:$/, "")}` };
  // WHATWG URL drops a scheme's default port (80 for http): a port written out is required all the same.
  const written = /^[a-z0-9]+:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*):(\d+)(?:[/?#]|$)/i.exec(raw);
  if (!written) return { ok: false, reason: "needs a port (host:port)" };
  const port = Number(written[2]);
  if (!(port >= 1 && port <= 65535)) return { ok: false, reason: "the port must be 1 to 65535" };
  if ((url.pathname && url.pathname !== "/") || url.search || url.hash) return { ok: false, reason: "takes no path, query or fragment" };
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (!host) return { ok: false, reason: "needs a host" };
  if (!allowPrivate) {
    if (host === "localhost" || host.endsWith(".localhost")) return { ok: false, reason: "a loopback host is not allowed (ALLOW_PRIVATE_ADDRESSES)" };
    if (ipaddr.isValid(host)) {
      const why = isForbiddenAddress(host);
      if (why) return { ok: false, reason: `a ${why} address is not allowed (ALLOW_PRIVATE_ADDRESSES)` };
    }
  }
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  if ((username?.length ?? 0) > 255 || (password?.length ?? 0) > 255) return { ok: false, reason: "a user name or password is longer than 255 bytes" };
  return { ok: true, proxy: { scheme, host, port, ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) } };
}

/** The URL as shown: `socks5://user:***@host:port` (no password, no `:***`). */
export function maskProxy(p: ProxyRoute): string {
  return formatProxy(p, "***");
}

/** The URL whole, for the gateway (over its private socket) and for storage (encrypted). */
export function proxyUrl(p: ProxyRoute): string {
  return formatProxy(p, p.password === undefined ? undefined : encodeURIComponent(p.password));
}

function formatProxy(p: ProxyRoute, password: string | undefined): string {
  const host = p.host.includes(":") ? `[${p.host}]` : p.host;
  const user = p.username !== undefined ? `${encodeURIComponent(p.username)}${p.password !== undefined ? `:${password}` : ""}@` : "";
  return `${p.scheme}://${user}${host}:${p.port}`;
}
