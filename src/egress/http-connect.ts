// The two ends of an HTTP CONNECT that the egress path writes itself: the target as a CONNECT
// names it, and the answer's head read off a socket (the sandbox asking the gateway, the gateway
// asking a session's HTTP proxy). Bytes after the head belong to the tunnel and are given back.
import type { Socket } from "node:net";

/** `host:port`, an IPv6 address in brackets. */
export function connectTarget(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Why no answer came: `kind` says which, `message` in words; a socket's own error is passed on as it is. */
export class NoConnectAnswer extends Error {
  constructor(
    readonly kind: "timeout" | "too-long" | "closed",
    message: string,
  ) {
    super(message);
  }
}

/** The longest answer head taken. */
const MAX_HEAD = 16 * 1024;

/**
 * The answer's status and head (its status line and headers, at most 16 KiB), with the socket
 * paused and what came after the head put back, so the tunnel's first bytes are not lost.
 */
export function readConnectAnswer(socket: Socket, timeoutMs: number): Promise<{ status: number; head: string }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => done(new NoConnectAnswer("timeout", "no answer in time")), timeoutMs);
    const done = (err: Error | null, value?: { status: number; head: string }) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("close", onClose);
      if (err) reject(err);
      else resolve(value!);
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end === -1) {
        if (buffered.length > MAX_HEAD) done(new NoConnectAnswer("too-long", "an answer too long"));
        return;
      }
      socket.pause();
      if (buffered.length > end + 4) socket.unshift(buffered.subarray(end + 4));
      const head = buffered.subarray(0, end).toString("latin1");
      done(null, { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head });
    };
    const onError = (err: Error) => done(err);
    const onClose = () => done(new NoConnectAnswer("closed", "connection closed"));
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", onClose);
  });
}
