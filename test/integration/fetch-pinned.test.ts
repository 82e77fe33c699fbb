// A media URL's fetch through the address guard, at the socket: a redirect is judged again before
// anything is sent to its target, and a name is judged by what it resolves to. 127.0.0.2 (loopback
// like the rest of 127/8) stands in for a public address through an injected classifier, so the
// first hop is reachable on this host while 127.0.0.1 stays forbidden; no other network is used.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { isForbiddenAddress } from "../../src/net/address-guard";
import { FetchFailed, FetchRefused, fetchPinned, type FetchPinnedOptions } from "../../src/net/fetch-pinned";

const classify = (ip: string) => (ip === "127.0.0.2" ? null : isForbiddenAddress(ip));

describe("fetchPinned", () => {
  let inside: ReturnType<typeof Bun.serve>;
  let outside: ReturnType<typeof Bun.serve>;
  let insideAsked = 0;
  beforeAll(() => {
    inside = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => (insideAsked++, new Response("secret")) });
    outside = Bun.serve({
      hostname: "127.0.0.2",
      port: 0,
      fetch(req) {
        const path = new URL(req.url).pathname;
        if (path === "/to-inside") return Response.redirect(`http://127.0.0.1:${inside.port}/admin`, 302);
        if (path === "/to-inside-by-name") return Response.redirect(`http://inside.test:${inside.port}/admin`, 307);
        if (path === "/slow") return new Response(new ReadableStream({ async pull(c) { await Bun.sleep(100); c.enqueue(new Uint8Array(10)); } }));
        return new Response("public file", { headers: { "content-type": "text/plain" } });
      },
    });
  });
  afterAll(() => {
    inside.stop(true);
    outside.stop(true);
  });

  const opts = (extra: Partial<FetchPinnedOptions> = {}): FetchPinnedOptions => ({ allowPrivate: false, timeoutMs: 3000, maxRedirects: 3, classify, resolve: async () => [{ address: "127.0.0.1", family: 4 }], ...extra });
  const text = async (body: AsyncIterable<Uint8Array>) => {
    let s = "";
    for await (const c of body) s += Buffer.from(c).toString();
    return s;
  };

  test("an address the guard allows is fetched", async () => {
    const got = await fetchPinned(new URL(`http://127.0.0.2:${outside.port}/file.txt`), opts());
    expect([got.contentType, await text(got.body)]).toEqual(["text/plain", "public file"]);
  });

  test("a redirect to loopback, by address or by a name resolving there, is refused before any request reaches it", async () => {
    for (const path of ["/to-inside", "/to-inside-by-name"]) {
      const err = await fetchPinned(new URL(`http://127.0.0.2:${outside.port}${path}`), opts()).catch((e) => e);
      expect(err).toBeInstanceOf(FetchRefused);
    }
    expect(insideAsked).toBe(0);
    // The same redirect is followed where private addresses are allowed: the refusal is the guard's.
    const allowed = await fetchPinned(new URL(`http://127.0.0.2:${outside.port}/to-inside`), opts({ allowPrivate: true }));
    expect(await text(allowed.body)).toBe("secret");
    expect(insideAsked).toBe(1);
  });

  test("a body slower than the deadline is cut off as a failure", async () => {
    const got = await fetchPinned(new URL(`http://127.0.0.2:${outside.port}/slow`), opts({ timeoutMs: 400 }));
    const started = Date.now();
    expect(await text(got.body).catch((e) => e)).toBeInstanceOf(FetchFailed);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test("nothing listening is a failure, not a refusal", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.2", port: 0, fetch: () => new Response("") });
    const port = closed.port;
    closed.stop(true);
    expect(await fetchPinned(new URL(`http://127.0.0.2:${port}/`), opts()).catch((e) => e)).toBeInstanceOf(FetchFailed);
  });
});
