// EGRESS_ALLOW: the host:port pairs a sandbox may reach through the gateway. A host is a name
// (`web.whatsapp.com`), a `*.`-wildcard name (`*.whatsapp.net`: any name below it, not itself)
// or an address (`127.0.0.1`, `[::1]`). Names are compared as sent, lowercased, without a
// trailing dot; an address entry matches only that address written as one.
import ipaddr from "ipaddr.js";

/** WhatsApp's own hosts (web client socket, chat, media CDN) on HTTPS and its chat port. */
export const DEFAULT_EGRESS_ALLOW = "web.whatsapp.com:443,*.whatsapp.com:443,*.whatsapp.net:443,*.whatsapp.com:5222,*.whatsapp.net:5222";

export interface AllowEntry {
  host: string;
  port: number;
  kind: "name" | "wildcard" | "address";
}

export class AllowList {
  private constructor(readonly entries: AllowEntry[]) {}

  /** Throws an Error naming the entry that is not `host:port`. */
  static parse(raw: string): AllowList {
    const entries: AllowEntry[] = [];
    for (const item of raw.split(",").map((s) => s.trim()).filter(Boolean)) {
      const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(item);
      const port = Number(m?.[2]);
      if (!m || port < 1 || port > 65535) throw new Error(`"${item}" is not host:port (port 1-65535)`);
      const host = normalHost(m[1]!);
      if (host.startsWith("*.")) {
        if (!isName(host.slice(2))) throw new Error(`"${item}": a wildcard is *. before a name`);
        entries.push({ host: host.slice(2), port, kind: "wildcard" });
      } else if (ipaddr.isValid(host)) entries.push({ host: ipaddr.parse(host).toNormalizedString(), port, kind: "address" });
      else if (isName(host)) entries.push({ host, port, kind: "name" });
      else throw new Error(`"${item}": not a host name or an address`);
    }
    if (entries.length === 0) throw new Error("no host:port given");
    return new AllowList(entries);
  }

  /** Whether a destination as the sandbox named it (host, port) is allowed. */
  allows(rawHost: string, port: number): boolean {
    const host = normalHost(rawHost);
    const address = ipaddr.isValid(host) ? ipaddr.parse(host).toNormalizedString() : null;
    return this.entries.some((e) => {
      if (e.port !== port) return false;
      if (e.kind === "address") return address === e.host;
      if (address !== null) return false;
      return e.kind === "name" ? host === e.host : host.endsWith(`.${e.host}`);
    });
  }

  /** The port a TLS connection to `host` goes to (SNI names no port): `fallback`, unless only one other port is allowed for it. */
  portFor(rawHost: string, fallback: number): number {
    if (this.allows(rawHost, fallback)) return fallback;
    const ports = [...new Set(this.entries.map((e) => e.port).filter((port) => this.allows(rawHost, port)))];
    return ports.length === 1 ? ports[0]! : fallback;
  }

  /** Whether this destination is allowed by an address entry (the operator named the address: no address guard). */
  namesAddress(rawHost: string): boolean {
    const host = normalHost(rawHost);
    return ipaddr.isValid(host) && this.entries.some((e) => e.kind === "address" && e.host === ipaddr.parse(host).toNormalizedString());
  }
}

function normalHost(host: string): string {
  return host.replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "").toLowerCase();
}

function isName(host: string): boolean {
  return host.length <= 253 && host.split(".").every((label) => /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/.test(label));
}
