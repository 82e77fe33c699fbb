// A session's proxy as its owner manages it: checked (socks5 or http with a port; no loopback or
// private host unless ALLOW_PRIVATE_ADDRESSES), stored sealed with its masked form beside it,
// shown only masked, and handed whole to the egress gateway alone, which is the only way out
// of the session's container. Without a gateway (the tests' direct sockets) a proxy cannot be
// enforced, so none is taken.
import type { SessionRow } from "../db/schema";
import type { GatewayClient } from "../egress/client";
import type { ProxySecrets } from "../egress/proxy-secrets";
import { maskProxy, parseProxyUrl, proxyUrl, type ProxyRoute } from "../egress/proxy-url";
import { SessionError, sessionErrors } from "./errors";

export interface SessionProxiesDeps {
  secrets: ProxySecrets;
  /** null when sandboxes do not go through the gateway. */
  gateway: GatewayClient | null;
  allowPrivate: boolean;
  log: { warn(msg: string, fields?: Record<string, unknown>): void };
}

/** The columns a proxy is stored in. */
export type ProxyFields = Pick<SessionRow, "proxyEncrypted" | "proxyMasked">;

export class SessionProxies {
  constructor(private readonly d: SessionProxiesDeps) {}

  /** A proxy URL as given (null for none), checked: 400 VALIDATION_ERROR naming `proxy`. */
  check(raw: string | null): ProxyRoute | null {
    if (raw === null) return null;
    const parsed = parseProxyUrl(raw, this.d.allowPrivate);
    if (!parsed.ok) throw sessionErrors.invalidField("proxy", parsed.reason);
    if (!this.d.gateway) throw new SessionError("VALIDATION_ERROR", 'Invalid field "proxy": this server runs its sandboxes without the egress gateway, so a proxy could not be enforced', { field: "proxy" });
    return parsed.proxy;
  }

  fields(sessionId: string, proxy: ProxyRoute | null): ProxyFields {
    return proxy ? { proxyEncrypted: this.d.secrets.seal(sessionId, proxyUrl(proxy)), proxyMasked: maskProxy(proxy) } : { proxyEncrypted: null, proxyMasked: null };
  }

  /** The URL whole, for the gateway; null for none (or one sealed under another key: then the session has no way out, and says so). */
  urlOf(row: Pick<SessionRow, "id" | "proxyEncrypted">): string | null {
    if (!row.proxyEncrypted) return null;
    const url = this.d.secrets.open(row.id, row.proxyEncrypted);
    if (url === null) this.d.log.warn("a session's proxy does not open with this key (WEBHOOK_SECRET changed?)", { sessionId: row.id });
    return url ?? "socks5://unopenable.invalid:1";
  }

  /** Tells the gateway the session's route; false when it is not up (it gets it once it is). */
  async push(row: Pick<SessionRow, "id" | "proxyEncrypted">): Promise<boolean> {
    return this.d.gateway ? this.d.gateway.setRoute(row.id, this.urlOf(row)) : true;
  }

  async drop(sessionId: string): Promise<void> {
    await this.d.gateway?.dropRoute(sessionId);
  }
}
