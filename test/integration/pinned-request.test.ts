// Real HTTP servers on loopback only. Refusals are proven by the servers seeing no connection at all.
import { afterAll, describe, expect, test } from "bun:test";
import http from "node:http";
import type { AddressInfo, LookupFunction } from "node:net";
import { postPinned, pinnedLookup } from "../../src/net/pinned-request";
import type { Resolver } from "../../src/net/address-guard";

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface TestServer {
  port: number;
  requests: Seen[];
  connections: number;
  close(): Promise<void>;
}

const servers: TestServer[] = [];

async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void, host = "127.0.0.1"): Promise<TestServer> {
  const srv = http.createServer();
  const state: TestServer = {
    port: 0,
    requests: [],
    connections: 0,
    close: () => {
      srv.closeAllConnections();
      return new Promise((r) => srv.close(() => r()));
    },
  };
  srv.on("connection", () => state.connections++);
  srv.on("request", (req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      state.requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      handler(req, res);
    });
  });
  await new Promise<void>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(0, host, () => resolve());
  });
  state.port = (srv.address() as AddressInfo).port;
  servers.push(state);
  return state;
}

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function rejection(p: Promise<unknown>): Promise<NodeJS.ErrnoException> {
  try {
    await p;
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  throw new Error("expected a rejection");
}

const ok = (_req: http.IncomingMessage, res: http.ServerResponse) => res.end("thanks");

describe("postPinned", () => {
  test("with allowPrivate the POST arrives with body, headers and the name in Host", async () => {
    const s = await serve(ok);
    const body = JSON.stringify({ event: "state", n: 1 });
    const r = await postPinned(new URL(`http://localhost:${s.port}/hook?x=1`), body, { "content-type": "application/json", "x-webhook-signature": "sha256=ab" }, { timeoutMs: 2000, allowPrivate: true });
    expect(r).toEqual({ status: 200 });
    expect(s.requests).toHaveLength(1);
    const [seen] = s.requests;
    expect(seen.method).toBe("POST");
    expect(seen.url).toBe("/hook?x=1");
    expect(seen.body).toBe(body);
    expect(seen.headers["content-type"]).toBe("application/json");
    expect(seen.headers["x-webhook-signature"]).toBe("sha256=ab");
    expect(seen.headers["content-length"]).toBe(String(body.length));
    expect(seen.headers.host).toBe(`localhost:${s.port}`);
  });

  test("with allowPrivate an IP literal is delivered too", async () => {
    const s = await serve((_req, res) => {
      res.statusCode = 204;
      res.end();
    });
    const r = await postPinned(new URL(`http://127.0.0.1:${s.port}/`), "x", {}, { timeoutMs: 2000, allowPrivate: true });
    expect(r.status).toBe(204);
    expect(s.requests[0].headers.host).toBe(`127.0.0.1:${s.port}`);
  });

  test("with allowPrivate an IPv6 literal keeps its brackets in Host", async () => {
    let s: TestServer;
    try {
      s = await serve(ok, "::1");
    } catch {
      return; // no IPv6 loopback on this machine
    }
    const r = await postPinned(new URL(`http://[::1]:${s.port}/v6`), "x", {}, { timeoutMs: 2000, allowPrivate: true });
    expect(r.status).toBe(200);
    expect(s.requests[0].headers.host).toBe(`[::1]:${s.port}`);
  });

  test("without allowPrivate loopback targets are refused before any connection", async () => {
    const s = await serve(ok);
    const urls = [
      `http://localhost:${s.port}/`,
      `http://127.0.0.1:${s.port}/`,
      `http://2130706433:${s.port}/`,
      `http://0x7f.1:${s.port}/`,
      `http://[::ffff:127.0.0.1]:${s.port}/`,
    ];
    for (const u of urls) {
      const err = await rejection(postPinned(new URL(u), "secret", {}, { timeoutMs: 2000, allowPrivate: false }));
      expect(err.code).toBe("FORBIDDEN_ADDRESS");
      expect(err.message).toContain("loopback");
      expect(err.message).not.toContain("127.0.0.1");
    }
    await Bun.sleep(50);
    expect(s.connections).toBe(0);
    expect(s.requests).toHaveLength(0);
  });

  test("a redirect is returned as its status and never followed", async () => {
    const target = await serve(ok);
    const s = await serve((_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${target.port}/stolen` });
      res.end();
    });
    const r = await postPinned(new URL(`http://127.0.0.1:${s.port}/`), "x", {}, { timeoutMs: 2000, allowPrivate: true });
    expect(r.status).toBe(302);
    await Bun.sleep(50);
    expect(s.requests).toHaveLength(1);
    expect(target.connections).toBe(0);
  });

  test("a server that never answers gives TIMEOUT within the limit", async () => {
    const s = await serve(() => {});
    const started = performance.now();
    const err = await rejection(postPinned(new URL(`http://127.0.0.1:${s.port}/`), "x", {}, { timeoutMs: 300, allowPrivate: true }));
    const elapsed = performance.now() - started;
    expect(err.code).toBe("TIMEOUT");
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1500);
    expect(s.requests).toHaveLength(1);
  });

  test("headers then a body that never ends still times out: the deadline covers the body", async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("a little");
    });
    const started = performance.now();
    const err = await rejection(postPinned(new URL(`http://127.0.0.1:${s.port}/`), "x", {}, { timeoutMs: 300, allowPrivate: true }));
    expect(err.code).toBe("TIMEOUT");
    expect(performance.now() - started).toBeLessThan(1500);
  });

  test("an endless response body is cut off after a bounded read", async () => {
    let sent = 0;
    let closed = false;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const s = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const pump = () => {
        // Up to 1 GiB, far more than the client may hold; stop once it hangs up.
        while (!closed && sent < 1024 ** 3) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      res.on("close", () => (closed = true));
      pump();
    });
    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    const r = await postPinned(new URL(`http://127.0.0.1:${s.port}/`), "x", {}, { timeoutMs: 5000, allowPrivate: true });
    expect(r.status).toBe(200);
    expect(performance.now() - started).toBeLessThan(3000);
    await Bun.sleep(100);
    expect(closed).toBe(true);
    expect(sent).toBeLessThan(64 * 1024 ** 2);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 ** 2);
  });

  test("a closed port rejects with the network error, not a timeout", async () => {
    const s = await serve(ok);
    const port = s.port;
    await s.close();
    const err = await rejection(postPinned(new URL(`http://127.0.0.1:${port}/`), "x", {}, { timeoutMs: 2000, allowPrivate: true }));
    expect(err.code).not.toBe("TIMEOUT");
    expect(err.message).toMatch(/ECONNREFUSED|refused/i);
  });

  test("a non-http scheme is refused", async () => {
    const err = await rejection(postPinned(new URL("ftp://127.0.0.1/"), "x", {}, { timeoutMs: 2000, allowPrivate: true }));
    expect(err.code).toBe("BAD_SCHEME");
  });
});

// The socket's lookup, fed hostile DNS answers: what it refuses never reaches a socket, and what it
// passes on is exactly the set it checked.
describe("pinnedLookup with an injected resolver", () => {
  const answers = (...addresses: string[]): Resolver => async () => addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  const call = (fn: LookupFunction, options: { all?: boolean; family?: number }) =>
    new Promise<{ err: NodeJS.ErrnoException | null; address: unknown; family?: number }>((resolve) =>
      fn("hook.example", options, (err, address, family) => resolve({ err, address, family })),
    );

  test("refuses when any answer is forbidden, naming only the class", async () => {
    const { err } = await call(pinnedLookup(false, answers("93.184.216.34", "169.254.169.254")), { all: true });
    expect(err?.code).toBe("FORBIDDEN_ADDRESS");
    expect(err?.message).toContain("cloud metadata");
    expect(err?.message).not.toContain("169.254");
  });

  test("hands over the checked addresses, all or one", async () => {
    const fn = pinnedLookup(false, answers("2606:2800:220:1::1", "93.184.216.34"));
    expect(await call(fn, { all: true })).toEqual({
      err: null,
      address: [
        { address: "2606:2800:220:1::1", family: 6 },
        { address: "93.184.216.34", family: 4 },
      ],
      family: undefined,
    });
    expect(await call(fn, {})).toEqual({ err: null, address: "2606:2800:220:1::1", family: 6 });
    expect(await call(fn, { family: 4 })).toEqual({ err: null, address: "93.184.216.34", family: 4 });
  });

  test("allowPrivate passes private answers; a failed resolve is a plain network error", async () => {
    expect((await call(pinnedLookup(true, answers("10.0.0.7")), {})).address).toBe("10.0.0.7");
    const failing: Resolver = async () => {
      throw Object.assign(new Error("getaddrinfo ENOTFOUND hook.example"), { code: "ENOTFOUND" });
    };
    const { err } = await call(pinnedLookup(true, failing), {});
    expect(err?.code).toBe("ENOTFOUND");
  });
});
