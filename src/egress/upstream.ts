// One TCP connection from the gateway to an allowed destination: directly (the name resolved
// here, each address judged by the address guard unless the operator allowed that address
// itself), or through the session's proxy (SOCKS5 through the `socks` library, HTTP CONNECT
// written here), where the proxy resolves the name. A proxy that fails is never bypassed.
import { codedError } from "../net/pinned-request";
import { connectTarget, readConnectAnswer } from "./http-connect";
import { connect, type Socket } from "node:net";
import { SocksClient } from "socks";
import { resolveAllowed } from "../net/address-guard";
import type { ProxyRoute } from "./proxy-url";
import { BunEnd, NodeEnd, type End } from "./relay";

/** Why a connection could not be made: `reason` is what the session's status shows. */
export class UpstreamFailed extends Error {
  constructor(
    readonly reason: string,
    /** Whether the session's proxy failed (not the destination behind it). */
    readonly proxyFailed: boolean,
  ) {
    super(reason);
  }
}

export interface UpstreamTarget {
  host: string;
  port: number;
  proxy: ProxyRoute | null;
  /** The destination may be private: ALLOW_PRIVATE_ADDRESSES, or it is an address the allow list names. */
  allowPrivate: boolean;
  /** ALLOW_PRIVATE_ADDRESSES alone: whether the proxy's own address may be private. */
  proxyMayBePrivate: boolean;
  timeoutMs: number;
}

/** A connection to the destination, paused until the relay takes it. */
export async function openUpstream(t: UpstreamTarget): Promise<End> {
  if (!t.proxy) return direct(t);
  const socket = t.proxy.scheme === "socks5" ? await viaSocks(t, t.proxy) : await viaHttpConnect(t, t.proxy);
  socket.pause();
  return new NodeEnd(socket);
}

async function direct(t: UpstreamTarget): Promise<End> {
  const resolved = await resolveAllowed(t.host, t.allowPrivate);
  if (!resolved.ok) throw new UpstreamFailed(resolved.forbidden ? `destination refused: ${resolved.reason}` : `WhatsApp unreachable (${resolved.reason})`, false);
  let last = "unreachable";
  for (const { address } of resolved.addresses) {
    try {
      return await bunTcp(address, t.port, t.timeoutMs);
    } catch (err) {
      last = describe(err);
    }
  }
  throw new UpstreamFailed(`WhatsApp unreachable (${last})`, false);
}

type Holder = { end: BunEnd | null; late: boolean };

/** A direct connection on Bun's own socket (no node:net stream in the way). */
async function bunTcp(host: string, port: number, timeoutMs: number): Promise<End> {
  const holder: Holder = { end: null, late: false };
  const connecting = Bun.connect<Holder>({
    hostname: host,
    port,
    allowHalfOpen: true,
    data: holder,
    socket: {
      open(socket) {
        if (socket.data.late) return void socket.terminate();
        socket.pause();
        socket.data.end = new BunEnd(socket as never);
      },
      data: (socket, chunk) => socket.data.end?.onData(chunk),
      end: (socket) => socket.data.end?.onEnd(),
      drain: (socket) => socket.data.end?.onDrain(),
      close: (socket) => socket.data.end?.onClose(),
      error: (socket) => socket.data.end?.onError(),
    },
  });
  connecting.catch(() => {}); // a refusal after the deadline has nobody waiting
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      holder.late = true;
      reject(codedError("ETIMEDOUT", "timed out"));
    }, timeoutMs);
  });
  try {
    await Promise.race([connecting, timeout]);
  } finally {
    clearTimeout(timer);
  }
  return holder.end!;
}

/** The proxy's own address is judged as a destination is (a private one only with ALLOW_PRIVATE_ADDRESSES). */
async function proxyAddress(proxy: ProxyRoute, allowPrivate: boolean): Promise<string> {
  const resolved = await resolveAllowed(proxy.host, allowPrivate);
  if (!resolved.ok) throw new UpstreamFailed(resolved.forbidden ? `proxy refused: ${resolved.reason}` : `proxy unreachable (${resolved.reason})`, true);
  return resolved.addresses[0]!.address;
}

async function viaSocks(t: UpstreamTarget, proxy: ProxyRoute): Promise<Socket> {
  const host = await proxyAddress(proxy, t.proxyMayBePrivate);
  try {
    const { socket } = await SocksClient.createConnection({
      command: "connect",
      destination: { host: t.host, port: t.port },
      proxy: { host, port: proxy.port, type: 5, ...(proxy.username !== undefined ? { userId: proxy.username, password: proxy.password ?? "" } : {}) },
      timeout: t.timeoutMs,
    });
    return socket;
  } catch (err) {
    const message = (err as Error).message;
    if (/Authentication failed|no accepted authentication type/i.test(message)) throw new UpstreamFailed("proxy authentication failed", true);
    if (/rejected connection/i.test(message)) throw new UpstreamFailed("proxy refused the connection to WhatsApp", true);
    if (/timed out/i.test(message)) throw new UpstreamFailed("proxy unreachable (timed out)", true);
    throw new UpstreamFailed(`proxy unreachable (${describe(err)})`, true);
  }
}

async function viaHttpConnect(t: UpstreamTarget, proxy: ProxyRoute): Promise<Socket> {
  const host = await proxyAddress(proxy, t.proxyMayBePrivate);
  let socket: Socket;
  try {
    socket = await tcp(host, proxy.port, t.timeoutMs);
  } catch (err) {
    throw new UpstreamFailed(`proxy unreachable (${describe(err)})`, true);
  }
  const target = connectTarget(t.host, t.port);
  const auth = proxy.username !== undefined ? `Proxy-Authorization: Basic ${Buffer.from(`${proxy.username}:${proxy.password ?? ""}`).toString("base64")}\r\n` : "";
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`);
  let head: { status: number };
  try {
    head = await readConnectAnswer(socket, t.timeoutMs);
  } catch (err) {
    socket.destroy();
    throw new UpstreamFailed(`proxy unreachable (${describe(err)})`, true);
  }
  if (head.status === 200) return socket;
  socket.destroy();
  // 407 is the standard answer; tinyproxy answers 401.
  if (head.status === 407 || head.status === 401) throw new UpstreamFailed("proxy authentication failed", true);
  throw new UpstreamFailed(`proxy refused the connection to WhatsApp (HTTP ${head.status})`, true);
}

function tcp(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(codedError("ETIMEDOUT", "timed out"));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const code = e.code ?? /\b(E[A-Z]+)\b/.exec(e.message ?? "")?.[1];
  return code === "ECONNREFUSED" ? "connection refused" : code === "ETIMEDOUT" ? "timed out" : (code ?? e.message ?? String(err));
}
