// serve() on Deno: Deno.serve and Deno.upgradeWebSocket, adapted to the runtime-neutral interface.
// The Deno namespace is reached through globalThis with the few types used here, so the project
// type-checks with Bun's types alone.
import { Buffer } from "node:buffer";
import type { RunningServer, ServeOptions, ServerSocket, SocketHandler } from "./serve";

type RemoteAddr = { transport: "tcp" | "udp"; hostname: string; port: number } | { transport: "unix" | "unixpacket"; path: string };
interface DenoServer {
  addr: RemoteAddr;
  shutdown(): Promise<void>;
}
interface DenoServeApi {
  serve(
    options: ({ port: number; hostname: string } | { path: string }) & { onListen?: (addr: RemoteAddr) => void },
    handler: (req: Request, info: { remoteAddr: RemoteAddr }) => Response | Promise<Response>,
  ): DenoServer;
  upgradeWebSocket(req: Request): { socket: WebSocket; response: Response };
}

const Deno = (globalThis as unknown as { Deno: DenoServeApi }).Deno;

export function serve<D>(opts: ServeOptions<D>): RunningServer {
  const handler = async (req: Request, info: { remoteAddr: RemoteAddr }): Promise<Response> => {
    let upgraded: Response | undefined;
    const res = await opts.fetch(req, {
      address: () => (info.remoteAddr.transport === "tcp" ? info.remoteAddr.hostname : undefined),
      upgrade: (data) => {
        if (!opts.websocket || req.headers.get("upgrade")?.toLowerCase() !== "websocket") return false;
        let pair: { socket: WebSocket; response: Response };
        try {
          pair = Deno.upgradeWebSocket(req);
        } catch {
          return false; // not a valid WebSocket handshake
        }
        attach(pair.socket, data, opts.websocket);
        upgraded = pair.response;
        return true;
      },
    });
    return res ?? upgraded ?? new Response("Upgrade answered nothing", { status: 500 });
  };
  // onListen: Deno's default prints "Listening on ..." to stdout, which is the API's log stream.
  const listen = "unix" in opts.listen ? { path: opts.listen.unix } : { port: opts.listen.port, hostname: opts.listen.hostname };
  const server = Deno.serve({ ...listen, onListen: () => {} }, handler);
  let shutdown: Promise<void> | undefined;
  return {
    port: server.addr.transport === "tcp" ? server.addr.port : undefined,
    async stop(force) {
      shutdown ??= server.shutdown();
      // Deno closes its WebSockets itself here (1001); it has no forced close of HTTP requests.
      if (!force) await shutdown;
    },
  };
}

function attach<D>(socket: WebSocket, data: D, handler: SocketHandler<D>): void {
  socket.binaryType = "arraybuffer";
  const neutral: ServerSocket<D> = {
    data,
    send(text) {
      if (socket.readyState !== WebSocket.OPEN) return false;
      socket.send(text);
      return true;
    },
    close: (code, reason) => socket.close(code, reason),
  };
  socket.onopen = () => handler.open(neutral);
  socket.onmessage = (event: MessageEvent) => {
    const message = event.data as string | ArrayBuffer;
    // Deno has no per-frame limit of its own below its message cap: checked here, as Bun would (1009).
    const size = typeof message === "string" ? message.length : message.byteLength;
    if (size > handler.maxPayloadLength) {
      socket.close(1009, "message too big");
      return;
    }
    handler.message(neutral, typeof message === "string" ? message : Buffer.from(message));
  };
  socket.onclose = (event: CloseEvent) => handler.close(neutral, event.code);
}
