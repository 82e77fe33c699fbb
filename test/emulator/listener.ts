// The emulator's servers: WebSocket at /ws/chat (on a loopback port or a unix socket), the
// control API on a loopback port, and the HTTPS media server (media-server.ts) on another
// loopback port and, if asked, a unix socket.
import type { Server, ServerWebSocket } from "bun";
import { rmSync } from "node:fs";
import { makeServerIdentity, makeTrustRoot } from "./certs";
import { Connection } from "./connection";
import { handleControl } from "./control";
import { emulatorLog, type EmulatorLogLevel } from "./log";
import { MediaServer } from "./media-server";
import { EmulatorState } from "./state";

export interface EmulatorOptions {
  /** Port of the WebSocket and control server (0: a free one). */
  port?: number;
  /** Serve the WebSocket on this unix socket instead; control stays on a loopback port. */
  socketPath?: string;
  /** Serve the media server on this unix socket too (HTTPS, same certificate), for sandboxes without a network. */
  mediaSocketPath?: string;
  /** Hex private key of the trust root, so a restarted emulator keeps the same root. */
  rootPrivateKey?: string;
  /** QR refs a new device gets before its QR times out (WhatsApp sends 6). */
  qrRefs?: number;
  logLevel?: EmulatorLogLevel;
}

export interface RunningEmulator {
  wsUrl: string;
  controlUrl: string;
  trustRoot: string;
  /** The media server: `https://127.0.0.1:<port>`, the host media_conn announces. */
  mediaUrl: string;
  /** PEM of the test CA that signed the media server's certificate (SAN IP:127.0.0.1, DNS:localhost). */
  mediaCa: string;
  /** The unix socket the media server also listens on (TLS, same certificate), if asked. */
  mediaSocketPath: string | undefined;
  state: EmulatorState;
  stop(): Promise<void>;
}

type Data = { conn?: Connection };

export async function startEmulator(opts: EmulatorOptions = {}): Promise<RunningEmulator> {
  const log = emulatorLog(opts.logLevel ?? ((process.env.EMULATOR_LOG_LEVEL as EmulatorLogLevel) || "warn"));
  const root = makeTrustRoot(opts.rootPrivateKey);
  const identity = makeServerIdentity(root);
  const state = new EmulatorState();
  const media = await MediaServer.start({ socketPath: opts.mediaSocketPath, log });
  state.media = media;
  const connections = new Set<Connection>();
  const byRef = new Map<string, Connection>();

  const websocket = {
    open(ws: ServerWebSocket<Data>) {
      if (Date.now() < state.refuseUntil) {
        ws.close(1013, "refusing connections");
        return;
      }
      const conn = new Connection(
        { send: (d) => ws.send(d), close: (code, reason) => ws.close(code, reason) },
        {
          state,
          identity,
          log,
          qrRefs: opts.qrRefs ?? 6,
          onRefs: (c, refs) => refs.forEach((r) => byRef.set(r, c)),
          onClose: (c) => {
            connections.delete(c);
            for (const r of c.refs) if (byRef.get(r) === c) byRef.delete(r);
          },
        },
      );
      ws.data.conn = conn;
      connections.add(conn);
      state.socketsOpened++;
    },
    message(ws: ServerWebSocket<Data>, message: string | Buffer) {
      ws.data.conn?.receive(typeof message === "string" ? Buffer.from(message) : message);
    },
    close(ws: ServerWebSocket<Data>) {
      const conn = ws.data.conn;
      if (conn && !conn.closed) {
        conn.closed = true;
        connections.delete(conn);
        for (const r of conn.refs) if (byRef.get(r) === conn) byRef.delete(r);
      }
    },
  };
  const upgrade = (req: Request, server: Server<Data>) => {
    if (new URL(req.url).pathname === "/ws/chat" && server.upgrade(req, { data: {} })) return undefined;
    return new Response("not found", { status: 404 });
  };

  let wsServer: Server<Data> | undefined;
  let wsUrl: string;
  const ctx = { state, log, connections, byRef, wsUrl: "" };
  const control = Bun.serve<Data>({
    hostname: "127.0.0.1",
    port: opts.port ?? 0,
    fetch: (req, server) => {
      if (new URL(req.url).pathname.startsWith("/control")) return handleControl(req, ctx);
      return opts.socketPath ? new Response("not found", { status: 404 }) : upgrade(req, server);
    },
    websocket,
  });
  if (opts.socketPath) {
    rmSync(opts.socketPath, { force: true });
    wsServer = Bun.serve<Data>({ unix: opts.socketPath, fetch: upgrade, websocket });
    // Sandboxes run as an unmapped user: the socket must be open to others (loopback-only anyway).
    require("node:fs").chmodSync(opts.socketPath, 0o666);
    wsUrl = `ws+unix://${opts.socketPath}:/ws/chat`;
  } else {
    wsUrl = `ws://127.0.0.1:${control.port}/ws/chat`;
  }
  ctx.wsUrl = wsUrl;
  log.info("emulator listening", { wsUrl, controlUrl: `http://127.0.0.1:${control.port}`, mediaUrl: media.url, mediaSocketPath: opts.mediaSocketPath });
  return {
    wsUrl,
    controlUrl: `http://127.0.0.1:${control.port}`,
    trustRoot: root.publicHex,
    mediaUrl: media.url,
    mediaCa: media.ca,
    mediaSocketPath: opts.mediaSocketPath,
    state,
    async stop() {
      for (const c of [...connections]) c.close(1001, "emulator stopping");
      control.stop(true);
      wsServer?.stop(true);
      media.stop();
      if (opts.socketPath) rmSync(opts.socketPath, { force: true });
    },
  };
}
