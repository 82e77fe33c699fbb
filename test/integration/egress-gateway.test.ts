// The egress gateway on its own (no containers): a session's socket takes CONNECT to what
// EGRESS_ALLOW names and nothing else (refused before any connection, counted), reaches it
// directly or only through the session's proxy (real dante and tinyproxy with authentication on
// loopback), says why a proxy failed, never falls back to a direct connection, and a route
// changed or dropped closes the connections made through the old one.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AllowList } from "../../src/egress/allow-list";
import { GatewayClient } from "../../src/egress/client";
import { startGateway, type RunningGateway } from "../../src/egress/gateway";
import { EGRESS_SOCKET, sessionDir } from "../../src/egress/tunnels";
import { silentLogger } from "../../src/log";
import { connect as tlsConnect } from "node:tls";
import { makeTestCa } from "../emulator/media-server";
import { startProxies, type RunningProxies } from "../support/proxies";

/** A TCP server on loopback that answers each line with "echo:<line>" and counts its connections. */
async function echoServer(): Promise<{ server: Server; port: number; accepted: () => number }> {
  let accepted = 0;
  const server = createServer((s) => {
    accepted++;
    s.on("error", () => {});
    s.on("data", (d) => s.write(`echo:${d}`));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { server, port: (server.address() as { port: number }).port, accepted: () => accepted };
}

/** CONNECT through a session's socket: the status, the reason header, and the socket when it opened. */
async function tunnel(socketPath: string, target: string): Promise<{ status: number; reason: string | null; socket: Socket }> {
  const socket = createConnection(socketPath);
  socket.on("error", () => {});
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  let head = "";
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      head += d.toString("latin1");
      if (head.includes("\r\n\r\n")) {
        socket.off("data", onData);
        resolve();
      }
    };
    socket.on("data", onData);
    socket.once("close", () => (head.includes("\r\n\r\n") ? resolve() : reject(new Error(`closed: ${JSON.stringify(head)}`))));
    setTimeout(() => reject(new Error(`no answer: ${JSON.stringify(head)}`)), 20_000);
  });
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1]), reason: /\r\nX-Egress-Reason: ([^\r]*)/.exec(head)?.[1] ?? null, socket };
}

async function roundTrip(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once("data", (d) => resolve(d.toString()));
    socket.write(text);
  });
}

const closed = (socket: Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once("close", () => resolve())));

describe("egress gateway", () => {
  const dir = mkdtempSync(join(tmpdir(), "egress-"));
  let whatsapp: Awaited<ReturnType<typeof echoServer>>;
  let elsewhere: Awaited<ReturnType<typeof echoServer>>;
  let gw: RunningGateway;
  let client: GatewayClient;
  let proxies: RunningProxies;
  const A = "11111111-1111-4111-8111-111111111111";
  const B = "22222222-2222-4222-8222-222222222222";
  const sock = (id: string) => join(sessionDir(dir, id), EGRESS_SOCKET);

  beforeAll(async () => {
    whatsapp = await echoServer();
    elsewhere = await echoServer();
    proxies = await startProxies();
    gw = await startGateway({ dir, allow: AllowList.parse(`127.0.0.1:${whatsapp.port},web.whatsapp.com:443`), allowPrivate: true, connectTimeoutMs: 3000, log: silentLogger });
    client = new GatewayClient(dir, async () => new Map(), silentLogger);
  });

  afterAll(async () => {
    await gw?.stop();
    await proxies?.stop();
    whatsapp?.server.close();
    elsewhere?.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("direct: an allowed destination is reached; anything else is refused before a connection is made, and counted", async () => {
    expect(await client.setRoute(A, null)).toBe(true);
    const ok = await tunnel(sock(A), `127.0.0.1:${whatsapp.port}`);
    expect(ok.status).toBe(200);
    expect(await roundTrip(ok.socket, "hello")).toBe("echo:hello");
    ok.socket.destroy();

    for (const target of [`127.0.0.1:${elsewhere.port}`, "169.254.169.254:80", "10.0.0.1:443", "localhost:22", `web.whatsapp.com:80`]) {
      const refused = await tunnel(sock(A), target);
      expect({ target, status: refused.status }).toEqual({ target, status: 403 });
      expect(refused.reason).toContain("EGRESS_ALLOW");
    }
    expect(elsewhere.accepted()).toBe(0);
    const bad = await tunnel(sock(A), "GET-not-connect");
    expect(bad.status).toBe(405);
    const metrics = await client.metrics();
    expect(metrics).toMatch(/wa_egress_refused_total\{why="not_allowed"\} 5/);
    expect(metrics).toMatch(/wa_egress_connections_total\{via="direct"\} 1/);
    expect(metrics).toMatch(/wa_egress_bytes_total\{direction="out"\} 5/);
  });

  test("through each proxy (with its credentials): reached, and the proxy's log shows it", async () => {
    for (const [id, url, log] of [
      [A, proxies.socksUrl, () => proxies.socksLog()],
      [B, proxies.httpUrl, () => proxies.httpLog()],
    ] as const) {
      expect(await client.setRoute(id, url)).toBe(true);
      const before = whatsapp.accepted();
      const t = await tunnel(sock(id), `127.0.0.1:${whatsapp.port}`);
      expect(t.status).toBe(200);
      expect(await roundTrip(t.socket, "via proxy")).toBe("echo:via proxy");
      expect(whatsapp.accepted()).toBe(before + 1);
      expect(log()).toContain(`127.0.0.1`);
      t.socket.destroy();
    }
    const metrics = await client.metrics();
    expect(metrics).toMatch(/wa_egress_connections_total\{via="socks5"\} 1/);
    expect(metrics).toMatch(/wa_egress_connections_total\{via="http"\} 1/);
  });

  test("a proxy down or with wrong credentials: 502 naming it, and nothing goes direct", async () => {
    const before = whatsapp.accepted();
    const cases = [
      [proxies.socksUrl.replace(/:[^:@/]*@/, ":wrong@"), "proxy authentication failed"],
      [proxies.httpUrl.replace(/:[^:@/]*@/, ":wrong@"), "proxy authentication failed"],
      [`socks5://u:p@127.0.0.1:${proxies.closedPort}`, "proxy unreachable"],
      [`http://u:p@127.0.0.1:${proxies.closedPort}`, "proxy unreachable"],
    ] as const;
    for (const [url, reason] of cases) {
      await client.setRoute(A, url);
      const t = await tunnel(sock(A), `127.0.0.1:${whatsapp.port}`);
      expect({ url, status: t.status, reason: t.reason?.split(" (")[0] }).toEqual({ url, status: 502, reason });
    }
    expect(whatsapp.accepted()).toBe(before);
    const states = await client.routeStates();
    expect(states.find((r) => r.id === A)?.lastFailure?.reason).toStartWith("proxy unreachable");
    expect(await client.metrics()).toMatch(/wa_egress_failed_total\{via="socks5",cause="proxy"\} 2/);
  });

  test("TLS sent straight to the socket goes where its SNI names (the one port allowed for it), whole; other names are cut before any connection", async () => {
    const ca = await makeTestCa();
    const big = Buffer.alloc(5 * 1024 * 1024, 7);
    let served = 0;
    let uploaded = 0;
    const https = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: ca.cert, key: ca.key },
      maxRequestBodySize: 64 * 1024 * 1024,
      fetch: async (req) => {
        if (req.method === "POST") uploaded = (await req.arrayBuffer()).byteLength;
        served++;
        return new Response(big);
      },
    });
    const local = await startGateway({ dir: join(dir, "sni"), allow: AllowList.parse(`localhost:${https.port}`), allowPrivate: true, log: silentLogger });
    try {
      const c = new GatewayClient(join(dir, "sni"), async () => new Map(), silentLogger);
      const path = join(sessionDir(join(dir, "sni"), A), EGRESS_SOCKET);
      // Directly, then through dante; several in a row, closed by the server and kept alive: a
      // response is never cut short, and an upload goes whole.
      for (const route of [null, proxies.socksUrl]) {
        await c.setRoute(A, route);
        for (let i = 0; i < 4; i++) {
          const res = await fetch(`https://localhost:${https.port}/file`, { unix: path, tls: { ca: ca.ca }, ...(i % 2 ? { headers: { connection: "close" } } : {}) } as RequestInit);
          expect((await res.arrayBuffer()).byteLength).toBe(big.length);
        }
      }
      expect(served).toBe(8);
      const upload = await fetch(`https://localhost:${https.port}/upload`, { method: "POST", body: big, unix: path, tls: { ca: ca.ca } } as RequestInit);
      expect(upload.status).toBe(200);
      expect(uploaded).toBe(big.length);
      served--; // the upload's answer is the big file too; only downloads are counted below
      expect(proxies.socksLog()).toContain(`.${https.port}`);
      // A name not allowed: the handshake is cut, nothing is asked of any server.
      const refused = await new Promise<string>((resolve) => {
        const t = tlsConnect({ path, servername: "evil.example", ca: ca.ca });
        t.on("error", (e) => resolve(e.message));
        t.on("secureConnect", () => resolve("connected"));
      });
      expect(refused).not.toBe("connected");
      expect(served).toBe(8);
      expect(await c.metrics()).toMatch(/wa_egress_refused_total\{why="not_allowed"\} 1/);
    } finally {
      await local.stop();
      https.stop(true);
    }
  });

  test("a changed route closes what went through the old one; a dropped route removes the socket", async () => {
    await client.setRoute(A, null);
    const t = await tunnel(sock(A), `127.0.0.1:${whatsapp.port}`);
    expect(t.status).toBe(200);
    await client.setRoute(A, proxies.socksUrl);
    await closed(t.socket);
    const again = await tunnel(sock(A), `127.0.0.1:${whatsapp.port}`);
    expect(again.status).toBe(200);
    await client.dropRoute(A);
    await closed(again.socket);
    await expect(tunnel(sock(A), `127.0.0.1:${whatsapp.port}`)).rejects.toThrow();
    expect((await client.routeStates()).map((r) => r.id)).toEqual([B]);
  });

  test("a restarted gateway gets every route again from the API's side", async () => {
    const wanted = new Map<string, string | null>([[A, null], [B, proxies.httpUrl]]);
    const watcher = new GatewayClient(dir, async () => wanted, silentLogger);
    await gw.stop();
    gw = await startGateway({ dir, allow: AllowList.parse(`127.0.0.1:${whatsapp.port}`), allowPrivate: true, log: silentLogger });
    watcher.watch(100);
    try {
      const start = Date.now();
      while ((await watcher.routeStates()).length < 2 && Date.now() - start < 5000) await Bun.sleep(50);
      expect((await watcher.routeStates()).map((r) => r.id).sort()).toEqual([A, B]);
      expect((await tunnel(sock(B), `127.0.0.1:${whatsapp.port}`)).status).toBe(200);
    } finally {
      watcher.stop();
    }
  });
});
