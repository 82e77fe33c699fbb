// serve() on Bun: Bun.serve with its WebSocket handler, adapted to the runtime-neutral interface.
import type { Server, ServerWebSocket } from "bun";
import type { RunningServer, ServeOptions, ServerSocket } from "./serve";

interface Attached<D> {
  data: D;
  /** The neutral face of the connection, made once at open so handlers can compare identities. */
  socket?: ServerSocket<D>;
}

export function serve<D>(opts: ServeOptions<D>): RunningServer {
  const ws = opts.websocket;
  const server: Server<Attached<D>> = Bun.serve<Attached<D>>({
    ...("unix" in opts.listen ? { unix: opts.listen.unix } : { port: opts.listen.port, hostname: opts.listen.hostname }),
    fetch: (req, srv) =>
      opts.fetch(req, {
        address: () => srv.requestIP(req)?.address,
        upgrade: (data) => srv.upgrade(req, { data: { data } }),
      }) as Promise<Response>,
    ...(ws
      ? {
          websocket: {
            // Bun closes a connection whose frame is larger (code 1009) before buffering all of it.
            maxPayloadLength: ws.maxPayloadLength,
            open: (raw: ServerWebSocket<Attached<D>>) => ws.open(neutral(raw)),
            message: (raw: ServerWebSocket<Attached<D>>, message: string | Buffer) => ws.message(neutral(raw), message),
            close: (raw: ServerWebSocket<Attached<D>>, code: number) => ws.close(neutral(raw), code),
          },
        }
      : {}),
    ...(opts.maxRequestBodySize !== undefined ? { maxRequestBodySize: opts.maxRequestBodySize } : {}),
    ...(opts.idleTimeoutSeconds !== undefined ? { idleTimeout: opts.idleTimeoutSeconds } : {}),
  } as Parameters<typeof Bun.serve<Attached<D>>>[0]);
  return {
    port: "unix" in opts.listen ? undefined : server.port,
    stop: (force) => server.stop(force),
  };
}

function neutral<D>(raw: ServerWebSocket<Attached<D>>): ServerSocket<D> {
  const attached = raw.data;
  attached.socket ??= {
    get data() {
      return attached.data;
    },
    // Bun answers 0 for a frame it dropped (closed connection), -1 for one queued.
    send: (text) => raw.send(text) !== 0,
    close: (code, reason) => raw.close(code, reason),
  };
  return attached.socket;
}
