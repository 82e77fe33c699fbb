// SSRF guard for the URLs a client makes the API reach (webhooks, media URLs): the client
// chooses the URL, so without this check the server would reach its own loopback, the LAN, or a
// cloud metadata endpoint on their behalf.
// Classification is ipaddr.js's; this module only decides which of its ranges are not the public
// internet, and resolves names so that every address a name points at is judged.
import { lookup } from "node:dns/promises";
import ipaddr from "ipaddr.js";

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to all its addresses; injectable so tests can feed hostile answers. */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (host) => lookup(host, { all: true, verbatim: true });

const V4_REASONS: Record<string, string> = {
  unspecified: "unspecified",
  broadcast: "broadcast",
  multicast: "multicast",
  linkLocal: "link-local",
  loopback: "loopback",
  carrierGradeNat: "carrier-grade NAT",
  private: "private",
};

const V6_REASONS: Record<string, string> = {
  unspecified: "unspecified",
  loopback: "loopback",
  linkLocal: "link-local",
  multicast: "multicast",
  uniqueLocal: "unique local",
  deprecatedSiteLocal: "site-local",
  "6to4": "6to4",
  teredo: "teredo",
};

// Metadata services answer credentials to whoever asks from inside the instance.
const V4_METADATA = ipaddr.IPv4.parse("169.254.169.254");
const V6_METADATA = ipaddr.IPv6.parse("fd00:ec2::254");
// Only 2000::/3 is allocated as global unicast; ipaddr.js calls the rest of the space "unicast" too.
const V6_GLOBAL: [ipaddr.IPv6, number] = [ipaddr.IPv6.parse("2000::"), 3];
const V6_V4_COMPATIBLE: [ipaddr.IPv6, number] = [ipaddr.IPv6.parse("::"), 96];

function classifyV4(ip: ipaddr.IPv4): string | null {
  if (ip.match(V4_METADATA, 32)) return "cloud metadata";
  const range = ip.range();
  if (range === "unicast") return null;
  return V4_REASONS[range] ?? "reserved";
}

function lastFourBytes(ip: ipaddr.IPv6): ipaddr.IPv4 {
  return new ipaddr.IPv4(ip.toByteArray().slice(12));
}

function classifyV6(ip: ipaddr.IPv6): string | null {
  if (ip.match(V6_METADATA, 128)) return "cloud metadata";
  const range = ip.range();
  // Forms that carry an IPv4 address in their last 32 bits reach that address: judge it instead.
  // NAT64's well-known /96 is how IPv6-only hosts reach public IPv4, so a public payload is allowed.
  if (range === "ipv4Mapped" || range === "rfc6145") return classifyV4(lastFourBytes(ip));
  if (range === "rfc6052") {
    return ip.match(ipaddr.IPv6.parse("64:ff9b::"), 96) ? classifyV4(lastFourBytes(ip)) : "reserved";
  }
  if (range === "unicast") {
    if (ip.match(V6_GLOBAL)) return ip.zoneId ? "scoped" : null;
    // Deprecated IPv4-compatible ::a.b.c.d: name the embedded class when it is a forbidden one.
    if (ip.match(V6_V4_COMPATIBLE)) return classifyV4(lastFourBytes(ip)) ?? "reserved";
    return "reserved";
  }
  return V6_REASONS[range] ?? "reserved";
}

/**
 * Why `ip` must not be reached on a client's behalf, or null for a public unicast address.
 * IPv4 must be dotted decimal: resolvers and WHATWG URL only produce that form, and refusing the
 * octal/hex/integer spellings leaves no room for this parser and the socket to read one differently.
 */
export function isForbiddenAddress(ip: string): string | null {
  // Brackets are how URLs write IPv6; they never enclose IPv4.
  if (ip.startsWith("[") && ip.endsWith("]")) {
    const inner = ip.slice(1, -1);
    return ipaddr.IPv6.isValid(inner) ? classifyV6(ipaddr.IPv6.parse(inner)) : "not an IP address";
  }
  if (ipaddr.IPv4.isValid(ip)) {
    return ipaddr.IPv4.isValidFourPartDecimal(ip) ? classifyV4(ipaddr.IPv4.parse(ip)) : "not dotted-decimal IPv4";
  }
  if (ipaddr.IPv6.isValid(ip)) return classifyV6(ipaddr.IPv6.parse(ip));
  return "not an IP address";
}

export type ResolveResult =
  | { ok: true; addresses: ResolvedAddress[] }
  | { ok: false; forbidden: boolean; reason: string };

/** Judges one address: why it is forbidden, or null. Injectable so tests can stand a loopback address in for a public one. */
export type Classifier = (ip: string) => string | null;

/** Resolves `host` and refuses it when it does not resolve or when ANY of its addresses is forbidden. */
export async function resolveAllowed(host: string, allowPrivate: boolean, resolve: Resolver = systemResolver, classify: Classifier = isForbiddenAddress): Promise<ResolveResult> {
  let addresses: ResolvedAddress[];
  try {
    addresses = await resolve(host);
  } catch (err) {
    return { ok: false, forbidden: false, reason: `host does not resolve (${(err as NodeJS.ErrnoException).code ?? "error"})` };
  }
  if (addresses.length === 0) return { ok: false, forbidden: false, reason: "host does not resolve" };
  if (!allowPrivate) {
    for (const { address } of addresses) {
      const why = classify(address);
      if (why) return { ok: false, forbidden: true, reason: `host resolves to a forbidden address (${why})` };
    }
  }
  return { ok: true, addresses };
}

/** True when a URL hostname is an IP literal (WHATWG URL brackets IPv6 and rewrites IPv4 to dotted decimal). */
export function isIpLiteralHost(hostname: string): boolean {
  return hostname.startsWith("[") || ipaddr.IPv4.isValidFourPartDecimal(hostname);
}

/** An http(s) URL without credentials whose host (literal or every address it resolves to) may be reached. */
export async function checkOutboundUrl(raw: string, allowPrivate: boolean): Promise<{ ok: true; url: URL } | { ok: false; reason: string }> {
  // The URL parser drops or escapes control characters, but the string kept is the one given.
  if (/[\u0000-\u001f\u007f]/.test(raw)) return { ok: false, reason: "control characters are not allowed" };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "not a valid URL" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return { ok: false, reason: "scheme must be http or https" };
  if (url.username || url.password) return { ok: false, reason: "credentials in the URL are not allowed" };
  if (!url.hostname) return { ok: false, reason: "host is required" };
  if (isIpLiteralHost(url.hostname)) {
    const why = allowPrivate ? null : isForbiddenAddress(url.hostname);
    return why ? { ok: false, reason: `forbidden address (${why})` } : { ok: true, url };
  }
  const resolved = await resolveAllowed(url.hostname, allowPrivate);
  return resolved.ok ? { ok: true, url } : { ok: false, reason: resolved.reason };
}
