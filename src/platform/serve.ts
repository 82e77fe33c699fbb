// Starts an HTTP server (and, when given a socket handler, its WebSocket upgrades) on a TCP port
// or a unix socket, on whichever runtime runs the API: Bun.serve or Deno.serve. The rest of the
// API sees only Web Requests and Responses, and the small socket interface below.
import { runtime } from "./runtime";

/** One accepted WebSocket, as the handler sees it on either runtime. */
export interface ServerSocket<D> {
  /** What the upgrade attached to this connection (mutable). */
  readonly data: D;
  /** Sends a text frame; false when it was dropped (the connection is closing or gone). */
  send(text: string): boolean;
  close(code?: number, reason?: string): void;
}

export interface SocketHandler<D> {
  /** Larger frames close the connection with 1009 before they reach `message`. */
  maxPayloadLength: number;
  open(ws: ServerSocket<D>): void;
  /** Text frames as strings, binary frames as bytes. */
  message(ws: ServerSocket<D>, data: string | Uint8Array): void;
  close(ws: ServerSocket<D>, code: number): void;
}

/** What a request handler may ask of the server about its request. */
export interface RequestContext<D> {
  /** The peer's IP address (TCP), or undefined (unix socket). Ask while the request is handled. */
  address(): string | undefined;
  /** Accepts the request as a WebSocket carrying `data`; the handler must then answer undefined. False when it is no upgrade. */
  upgrade(data: D): boolean;
}

export type FetchHandler<D> = (req: Request, ctx: RequestContext<D>) => Response | undefined | Promise<Response | undefined>;

export interface ServeOptions<D> {
  listen: { port: number; hostname: string } | { unix: string };
  fetch: FetchHandler<D>;
  websocket?: SocketHandler<D>;
  /** Bun only: bodies past this answer a bare 413 before any route runs (Deno streams them to the reader). */
  maxRequestBodySize?: number;
  /** Bun only: seconds an HTTP connection may be idle (Deno keeps its own default). */
  idleTimeoutSeconds?: number;
}

export interface RunningServer {
  /** The TCP port listened on (undefined on a unix socket). */
  readonly port: number | undefined;
  /**
   * Stops accepting connections. Not forced: resolves once requests in flight are answered. Forced:
   * closes what is still open (Bun), or stops waiting for it (Deno, which has no forced close).
   */
  stop(force: boolean): Promise<void>;
}

export async function serve<D>(opts: ServeOptions<D>): Promise<RunningServer> {
  const impl = runtime === "bun" ? await import("./serve-bun.ts") : await import("./serve-deno.ts");
  return impl.serve(opts);
}
