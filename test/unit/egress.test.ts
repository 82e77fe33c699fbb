// The egress pieces that decide: EGRESS_ALLOW's matching, proxy URLs (accepted, refused, masked)
// and their sealing, and the SNI read from a real ClientHello.
import { expect, test } from "bun:test";
import { connect } from "node:tls";
import { AllowList, DEFAULT_EGRESS_ALLOW } from "../../src/egress/allow-list";
import { ProxySecrets } from "../../src/egress/proxy-secrets";
import { maskProxy, parseProxyUrl, proxyUrl } from "../../src/egress/proxy-url";
import { serverNameOf } from "../../src/egress/tls-sni";

test("EGRESS_ALLOW: names exactly, *. any name below (not itself), addresses as addresses, each with its port", () => {
  const allow = AllowList.parse("web.whatsapp.com:443, *.whatsapp.net:443,*.whatsapp.net:5222,127.0.0.1:8443,[::1]:9000");
  const yes = [["web.whatsapp.com", 443], ["WEB.WhatsApp.com.", 443], ["mmg.whatsapp.net", 443], ["a.b.whatsapp.net", 5222], ["127.0.0.1", 8443], ["::1", 9000], ["0:0:0:0:0:0:0:1", 9000]] as const;
  const no = [["web.whatsapp.com", 80], ["whatsapp.net", 443], ["evilwhatsapp.net", 443], ["whatsapp.net.evil.com", 443], ["127.0.0.1", 443], ["localhost", 8443], ["127.0.0.2", 8443], ["mmg.whatsapp.net", 8443]] as const;
  for (const [host, port] of yes) expect({ host, port, ok: allow.allows(host, port) }).toEqual({ host, port, ok: true });
  for (const [host, port] of no) expect({ host, port, ok: allow.allows(host, port) }).toEqual({ host, port, ok: false });
  expect(allow.namesAddress("127.0.0.1")).toBe(true);
  expect(allow.namesAddress("web.whatsapp.com")).toBe(false);
  // SNI names no port: 443 when allowed, else the one port the list gives the name.
  expect(AllowList.parse("localhost:8443").portFor("localhost", 443)).toBe(8443);
  expect(allow.portFor("mmg.whatsapp.net", 443)).toBe(443);
  for (const bad of ["", "web.whatsapp.com", "host:0", "host:70000", "*.:443", "a b:443", "*:443"]) expect(() => AllowList.parse(bad)).toThrow();
  const defaults = AllowList.parse(DEFAULT_EGRESS_ALLOW);
  expect(defaults.allows("web.whatsapp.com", 443) && defaults.allows("g.whatsapp.net", 5222) && defaults.allows("mmg.whatsapp.net", 443)).toBe(true);
  expect(defaults.allows("example.com", 443)).toBe(false);
});

test("proxy URLs: socks5 or http with a port; no loopback or private host unless allowed; shown masked", () => {
  const ok = parseProxyUrl("socks5://us%40er:p%3Ass@proxy.example.com:1080", false);
  expect(ok).toEqual({ ok: true, proxy: { scheme: "socks5", host: "proxy.example.com", port: 1080, username: "us@er", password: "p:ss" } });
  if (!ok.ok) return;
  expect(maskProxy(ok.proxy)).toBe("socks5://us%40er:***@proxy.example.com:1080");
  expect(parseProxyUrl(proxyUrl(ok.proxy), false)).toEqual(ok);
  const shown = (raw: string) => {
    const parsed = parseProxyUrl(raw, false);
    return parsed.ok ? maskProxy(parsed.proxy) : parsed.reason;
  };
  expect(shown("http://93.184.216.34:3128")).toBe("http://93.184.216.34:3128");
  expect(shown("http://user@[2a00:1450::1]:8080")).toBe("http://user@[2a00:1450::1]:8080");
  const refused = ["https://u:p@proxy.example.com:443", "socks4://proxy.example.com:1080", "socks5://proxy.example.com", "http://proxy.example.com", "http://proxy.example.com:0",
    "http://proxy.example.com:8080/path", "socks5://127.0.0.1:1080", "http://localhost:3128", "socks5://10.1.2.3:1080", "http://[::1]:8080", "socks5://169.254.169.254:1080", "nonsense"];
  for (const raw of refused) expect({ raw, ok: parseProxyUrl(raw, false).ok }).toEqual({ raw, ok: false });
  // ALLOW_PRIVATE_ADDRESSES lets loopback and private hosts through (tests, a proxy on the LAN); never another scheme or no port.
  expect(parseProxyUrl("socks5://127.0.0.1:1080", true).ok).toBe(true);
  expect(parseProxyUrl("socks5://127.0.0.1", true).ok).toBe(false);
});

test("a sealed proxy opens only for its session and with its key; the stored text holds no password", () => {
  const secrets = new ProxySecrets(new TextEncoder().encode("k".repeat(32)));
  const url = "socks5://user:hunter2@proxy.example.com:1080";
  const sealed = secrets.seal("session-a", url);
  expect(sealed).not.toContain("hunter2");
  expect(secrets.seal("session-a", url)).not.toBe(sealed); // a fresh IV each time
  expect(secrets.open("session-a", sealed)).toBe(url);
  expect(secrets.open("session-b", sealed)).toBeNull();
  expect(new ProxySecrets(new TextEncoder().encode("j".repeat(32))).open("session-a", sealed)).toBeNull();
  expect(secrets.open("session-a", sealed.slice(0, -2) + "AA")).toBeNull();
  expect(secrets.open("session-a", "v2.x.y")).toBeNull();
});

test("the SNI of a real ClientHello, once the record is whole; garbage is null", async () => {
  const hello = await new Promise<Buffer>((resolve) => {
    // A TLS client writing into a socket pair's far end: its first record is the ClientHello.
    const { Duplex } = require("node:stream") as typeof import("node:stream");
    const sink = new Duplex({
      read() {},
      write(chunk, _enc, done) {
        resolve(Buffer.from(chunk));
        done();
      },
    });
    const tls = connect({ socket: sink as never, servername: "mmg.whatsapp.net" });
    tls.on("error", () => {});
  });
  expect(serverNameOf(hello)).toBe("mmg.whatsapp.net");
  expect(serverNameOf(hello.subarray(0, 20))).toBeUndefined();
  expect(serverNameOf(Buffer.from("CONNECT a:1 HTTP/1.1\r\n\r\n"))).toBeNull();
  const broken = Buffer.from(hello);
  broken.writeUInt16BE(60_000, 3);
  expect(serverNameOf(broken)).toBeNull();
});
