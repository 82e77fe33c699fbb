// Classification only: nothing here opens a connection, and the only names resolved are
// answered by /etc/hosts (no DNS query leaves the machine).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { checkOutboundUrl, isForbiddenAddress, resolveAllowed, type Resolver } from "../../src/net/address-guard";

const refused: [string, string][] = [
  ["127.0.0.1", "loopback"],
  ["127.255.0.9", "loopback"],
  ["::1", "loopback"],
  ["[::1]", "loopback"],
  ["::ffff:127.0.0.1", "loopback"],
  ["::ffff:7f00:1", "loopback"],
  ["[::ffff:7f00:1]", "loopback"],
  ["::ffff:0:7f00:1", "loopback"], // RFC 6145 IPv4-translated
  ["::127.0.0.1", "loopback"], // deprecated IPv4-compatible
  ["64:ff9b::7f00:1", "loopback"], // NAT64 of a loopback address
  ["64:ff9b::a00:1", "private"],
  ["::ffff:10.0.0.1", "private"],
  ["::ffff:169.254.169.254", "cloud metadata"],
  ["10.0.0.1", "private"],
  ["172.16.5.4", "private"],
  ["172.31.255.255", "private"],
  ["192.168.1.1", "private"],
  ["169.254.1.1", "link-local"],
  ["fe80::1", "link-local"],
  ["fe80::1%eth0", "link-local"],
  ["[fe80::abcd]", "link-local"],
  ["169.254.169.254", "cloud metadata"],
  ["fd00:ec2::254", "cloud metadata"],
  ["100.64.0.1", "carrier-grade NAT"],
  ["100.127.255.254", "carrier-grade NAT"],
  ["224.0.0.1", "multicast"],
  ["239.255.255.250", "multicast"],
  ["ff02::1", "multicast"],
  ["ff0e::1", "multicast"],
  ["0.0.0.0", "unspecified"],
  ["0.1.2.3", "unspecified"],
  ["::", "unspecified"],
  ["255.255.255.255", "broadcast"],
  ["fc00::1", "unique local"],
  ["fd12:3456::1", "unique local"],
  ["fec0::1", "site-local"],
  ["2002:7f00:1::1", "6to4"],
  ["2001:0:4136:e378:8000:63bf:3fff:fdd2", "teredo"],
  ["192.0.2.1", "reserved"],
  ["198.18.0.1", "reserved"],
  ["240.0.0.1", "reserved"],
  ["2001:db8::1", "reserved"],
  ["64:ff9b:1::1", "reserved"], // local-use NAT64
  ["100::1", "reserved"], // discard prefix
  ["::5db8:d822", "reserved"], // IPv4-compatible, even with a public payload
  ["2130706433", "not dotted-decimal IPv4"],
  ["0x7f.0.0.1", "not dotted-decimal IPv4"],
  ["0177.0.0.1", "not dotted-decimal IPv4"],
  ["2606:2800:220:1::1%eth0", "scoped"],
  ["localhost", "not an IP address"],
  ["", "not an IP address"],
  ["1.2.3.256", "not an IP address"],
  ["[1.1.1.1]", "not an IP address"],
];

const allowed = ["93.184.216.34", "1.1.1.1", "8.8.8.8", "2606:2800:220:1::1", "[2606:2800:220:1::1]", "2a00:1450:4001:80b::200e", "::ffff:93.184.216.34", "64:ff9b::5db8:d822"];

describe("isForbiddenAddress", () => {
  for (const [ip, reason] of refused) {
    test(`refuses ${JSON.stringify(ip)} as ${reason}`, () => {
      expect(isForbiddenAddress(ip)).toBe(reason);
    });
  }
  for (const ip of allowed) {
    test(`allows ${ip}`, () => {
      expect(isForbiddenAddress(ip)).toBeNull();
    });
  }
});

// A name other than localhost that /etc/hosts points at loopback (Debian ships ip6-localhost; hosts add their own).
function loopbackAliasFromEtcHosts(): string | undefined {
  for (const line of readFileSync("/etc/hosts", "utf8").split("\n")) {
    const [address, ...names] = line.replace(/#.*/, "").trim().split(/\s+/);
    if (!address || isForbiddenAddress(address) !== "loopback") continue;
    const name = names.find((n) => n !== "localhost" && !n.endsWith(".localhost"));
    if (name) return name;
  }
  return undefined;
}
const hostsAlias = loopbackAliasFromEtcHosts();

describe("checkOutboundUrl", () => {
  const refusedUrls: [string, RegExp][] = [
    // WHATWG URL rewrites integer, hex and octal IPv4 to dotted decimal, which is then judged.
    ["http://2130706433/", /loopback/],
    ["http://0x7f.1/", /loopback/],
    ["http://017700000001/", /loopback/],
    ["http://0177.0.0.1/", /loopback/],
    ["http://0x7f000001/", /loopback/],
    ["http://127.1/", /loopback/],
    ["http://0/", /unspecified/],
    ["http://[::1]:8080/hook", /loopback/],
    ["http://[::ffff:127.0.0.1]/", /loopback/],
    ["http://[::ffff:7f00:1]/", /loopback/],
    ["http://[fd00:ec2::254]/latest/meta-data", /cloud metadata/],
    ["http://169.254.169.254/latest/meta-data", /cloud metadata/],
    ["http://0xa9fea9fe/", /cloud metadata/],
    ["https://10.0.0.5/", /private/],
    ["http://100.64.1.1/", /carrier-grade NAT/],
    ["http://localhost:3000/hook", /loopback/],
    ["http://LOCALHOST/", /loopback/],
    ["ftp://93.184.216.34/", /scheme/],
    ["file:///etc/passwd", /scheme/],
    ["javascript:alert(1)", /scheme/],
    ["ws://93.184.216.34/", /scheme/],
    ["http://user:pass@93.184.216.34/", /credentials/],
    ["http://user@93.184.216.34/", /credentials/],
    ["https://:secret@93.184.216.34/", /credentials/],
    ["not a url", /not a valid URL/],
    ["http://[fe80::1%25eth0]/", /not a valid URL/],
  ];
  for (const [raw, reason] of refusedUrls) {
    test(`refuses ${raw}`, async () => {
      const r = await checkOutboundUrl(raw, false);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(reason);
    });
  }

  test.skipIf(!hostsAlias)(`refuses a /etc/hosts name that maps to loopback (${hostsAlias})`, async () => {
    const r = await checkOutboundUrl(`http://${hostsAlias}:8080/`, false);
    expect(r).toEqual({ ok: false, reason: "host resolves to a forbidden address (loopback)" });
  });

  for (const raw of ["http://93.184.216.34/hook?x=1", "https://1.1.1.1:8443/", "https://[2606:2800:220:1::1]/hook"]) {
    test(`allows ${raw} (an IP literal: no lookup, no connection)`, async () => {
      const r = await checkOutboundUrl(raw, false);
      expect(r.ok).toBe(true);
      if (r.ok) expect(r.url.href).toBe(new URL(raw).href);
    });
  }

  test("allowPrivate lets loopback through, by literal and by name", async () => {
    for (const raw of ["http://127.0.0.1:9000/", "http://[::1]:9000/", "http://localhost:9000/", "http://2130706433/"]) {
      const r = await checkOutboundUrl(raw, true);
      expect(r.ok).toBe(true);
    }
  });

  test("allowPrivate still refuses bad schemes and credentials", async () => {
    expect((await checkOutboundUrl("file:///etc/passwd", true)).ok).toBe(false);
    expect((await checkOutboundUrl("http://a:b@127.0.0.1/", true)).ok).toBe(false);
  });
});

describe("resolveAllowed with an injected resolver", () => {
  const answers = (...addresses: string[]): Resolver => async () => addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));

  test("one forbidden address among public ones refuses the name", async () => {
    const r = await resolveAllowed("rebind.example", false, answers("93.184.216.34", "2606:2800:220:1::1", "10.0.0.7"));
    expect(r).toEqual({ ok: false, forbidden: true, reason: "host resolves to a forbidden address (private)" });
  });

  test("mapped and metadata answers are refused", async () => {
    expect((await resolveAllowed("a.example", false, answers("::ffff:127.0.0.1"))).ok).toBe(false);
    expect((await resolveAllowed("a.example", false, answers("fd00:ec2::254"))).ok).toBe(false);
  });

  test("all-public answers pass and are returned as given", async () => {
    const r = await resolveAllowed("ok.example", false, answers("93.184.216.34", "2606:2800:220:1::1"));
    expect(r).toEqual({ ok: true, addresses: [{ address: "93.184.216.34", family: 4 }, { address: "2606:2800:220:1::1", family: 6 }] });
  });

  test("allowPrivate accepts forbidden answers", async () => {
    expect((await resolveAllowed("lan.example", true, answers("10.0.0.7"))).ok).toBe(true);
  });

  test("a name that does not resolve, or resolves to nothing, is refused even with allowPrivate", async () => {
    const fail: Resolver = async () => {
      throw Object.assign(new Error("getaddrinfo ENOTFOUND"), { code: "ENOTFOUND" });
    };
    expect(await resolveAllowed("nope.example", true, fail)).toEqual({ ok: false, forbidden: false, reason: "host does not resolve (ENOTFOUND)" });
    expect(await resolveAllowed("empty.example", true, answers())).toEqual({ ok: false, forbidden: false, reason: "host does not resolve" });
  });
});
