// The sandbox's only way out: the egress gateway's socket, mounted into this container (which
// has no network of its own). The WhatsApp socket asks it for a tunnel (HTTP CONNECT) and does
// its TLS through it, end to end; media transfers send their TLS straight to it, routed by the
// name they ask for. Names are resolved by the gateway (or the proxy), never here. A tunnel the
// gateway refuses fails with its reason (`proxy authentication failed`, …) and an `E` code, so
// Baileys treats it as a connection failure to retry, never as a bad session.
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { connectTarget, NoConnectAnswer, readConnectAnswer } from "../src/egress/http-connect";

/** A refused or failed tunnel: `message` is the gateway's reason. */
export class EgressRefused extends Error {
  readonly code = "EEGRESS";
}

/** How long the gateway may take to answer a CONNECT (it tries the proxy or WhatsApp meanwhile). */
const CONNECT_TIMEOUT_MS = 20_000;

/** A socket to `host:port` through the gateway's tunnel, plain (the caller may do TLS over it). */
export function tunnel(socketPath: string, host: string, port: number, done: (err: Error | null, socket?: Socket) => void): void {
  const raw = netConnect(socketPath);
  const started = Date.now();
  let settled = false;
  const finish = (err: Error | null) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    if (err) raw.destroy();
    done(err, err ? undefined : raw);
  };
  // The deadline covers the connect and the answer together.
  const timer = setTimeout(() => finish(new EgressRefused("the egress gateway did not answer in time")), CONNECT_TIMEOUT_MS);
  // Left on once the tunnel is made (as before): a late first error of the socket handed over must not stop the sandbox.
  raw.once("error", (err) => finish(new EgressRefused(`the egress gateway cannot be reached (${(err as NodeJS.ErrnoException).code ?? err.message})`)));
  raw.once("connect", () => {
    const target = connectTarget(host, port);
    raw.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    readConnectAnswer(raw, Math.max(1, CONNECT_TIMEOUT_MS - (Date.now() - started))).then(
      ({ status, head }) => finish(status === 200 ? null : new EgressRefused(/\r\nX-Egress-Reason: ([^\r\n]*)/i.exec(head)?.[1] ?? head.split("\r\n")[0]!)),
      (err: Error) => {
        // A socket error is the listener's above; only the answer's own failures are told here.
        if (!(err instanceof NoConnectAnswer)) return;
        finish(new EgressRefused(err.kind === "timeout" ? "the egress gateway did not answer in time" : err.kind === "too-long" ? "the egress gateway answered too much" : "the egress gateway closed the connection"));
      },
    );
  });
}

type ConnectOptions = { host?: string; hostname?: string; port?: number | string; servername?: string };
type Done = (err: Error | null, socket?: Socket) => void;

/** An agent for Baileys' WebSocket (its `agent` option): `wss:` gets TLS over the tunnel, `ws:` (a local emulator) the tunnel itself. */
export function egressAgent(socketPath: string, secure: boolean): HttpAgent {
  const open = (o: ConnectOptions, done: Done) => {
    const host = (o.hostname ?? o.host ?? "").replace(/^\[(.*)\]$/, "$1");
    const port = Number(o.port) || (secure ? 443 : 80);
    tunnel(socketPath, host, port, (err, raw) => {
      if (err || !raw) return done(err);
      if (!secure) {
        raw.resume();
        return done(null, raw);
      }
      const tls = tlsConnect({ socket: raw, servername: o.servername ?? host });
      tls.once("secureConnect", () => done(null, tls));
      tls.once("error", (e) => done(e));
    });
  };
  // ws calls createConnection(options, callback) and waits for the callback.
  const agent = secure ? new HttpsAgent() : new HttpAgent();
  (agent as unknown as { createConnection: (o: ConnectOptions, done: Done) => undefined }).createConnection = (o, done) => {
    open(o, done);
    return undefined;
  };
  return agent as HttpAgent;
}

/**
 * Media transfers (Baileys' uploads and downloads use the global fetch): every https request
 * goes to the gateway's socket with its TLS, which the gateway routes by name. Redirects are
 * followed here (fetch would follow one without the socket). `mediaHost` (tests) sends every
 * request to the emulator's media server by the name its certificate holds.
 */
export function installEgressFetch(socketPath: string, opts: { ca?: string; mediaHost?: string }): void {
  const original = globalThis.fetch;
  const routed = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]): Promise<Response> => {
    let url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    if (url.protocol !== "https:") return original(input, init);
    for (let hop = 0; ; hop++) {
      if (opts.mediaHost) url = new URL(url.pathname + url.search, `https://${opts.mediaHost}`);
      const res = await original(url, { ...init, unix: socketPath, redirect: "manual", ...(opts.ca ? { tls: { ca: opts.ca } } : {}) } as RequestInit);
      const location = res.headers.get("location");
      if (res.status < 300 || res.status > 399 || !location || hop >= 3) return res;
      url = new URL(location, url);
      if (url.protocol !== "https:") return res;
    }
  };
  globalThis.fetch = Object.assign(routed, original) as typeof fetch;
}
