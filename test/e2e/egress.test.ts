// Sessions that reach WhatsApp only through the egress gateway, and through their proxy: real
// dante (SOCKS5) and tinyproxy (HTTP CONNECT) with authentication on loopback, rootless Podman
// containers with no network, the emulator over TCP (its WebSocket and its HTTPS media server,
// reached by the name its certificate holds), as WhatsApp is reached in production.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { PNG } from "pngjs";
import { startEmulator, type RunningEmulator } from "../emulator";
import { startTestApi, type TestApi } from "../support/api";
import { emulatorControl } from "../support/emulator";
import { waitFor } from "../support/env";
import { startProxies, type RunningProxies } from "../support/proxies";
import { EGRESS_SOCKET, sessionDir } from "../../src/egress/tunnels";
import { CONTAINER_EGRESS_DIR } from "../../src/sessions/container-env";
import { createContainer, inspectContainer, removeContainer, startContainer } from "../../src/runtime/podman/containers";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
function png(side = 48): Buffer {
  const img = new PNG({ width: side, height: side });
  randomBytes(side * side * 4).copy(img.data);
  return PNG.sync.write(img);
}

describe("egress through the gateway and each session's proxy", () => {
  let emu: RunningEmulator;
  let control: ReturnType<typeof emulatorControl>;
  let proxies: RunningProxies;
  let t: TestApi;
  const CONTACT = "4915199997001";
  const sessions: Record<string, { id: string; key: string; phone: string }> = {};
  const status = async (name: string) => (await t.call("GET", `/sessions/${sessions[name]!.id}/status`, { key: sessions[name]!.key })).body.session;
  const sockets = async () => (await control("GET", "/control/stats")).body.sockets as { opened: number; open: number };
  const received = async () => (await control("GET", `/control/phones/${CONTACT}/received`)).body.messages as any[];

  async function link(name: string, phone: string, proxy: string | null) {
    const created = await t.call("POST", "/sessions/create", { body: { name, proxy } });
    expect(created.status).toBe(201);
    const s = { id: created.body.session.id, key: created.body.apiKey, phone };
    sessions[name] = s;
    await waitFor(async () => (await status(name)).state === "qr_ready", 60_000, `${name} qr_ready`);
    const qr = (await t.call("GET", `/sessions/${s.id}/qr`, { key: s.key })).body.qr;
    expect((await control("POST", "/control/scan", { qr, phoneNumber: phone })).status).toBe(200);
    await waitFor(async () => (await status(name)).state === "ready", 60_000, `${name} ready`);
    return created.body.session;
  }

  beforeAll(async () => {
    emu = await startEmulator({ logLevel: "warn" });
    control = emulatorControl(emu);
    await control("POST", "/control/numbers", { add: [CONTACT] });
    proxies = await startProxies();
    const wsPort = new URL(emu.wsUrl).port;
    const mediaPort = new URL(emu.mediaUrl).port;
    t = await startTestApi("postgres", {
      WA_WS_URL: emu.wsUrl,
      WA_TRUST_ROOT: emu.trustRoot,
      WA_MEDIA_CA: emu.mediaCa,
      // The media server by the name its certificate holds: a sandbox's TLS names where it goes (SNI).
      WA_MEDIA_HOST: `localhost:${mediaPort}`,
      EGRESS_ALLOW: `127.0.0.1:${wsPort},localhost:${mediaPort}`,
      SANDBOX_REQUEST_TIMEOUT_MS: "15000",
    });
  });

  afterAll(async () => {
    await t?.close();
    await proxies?.stop();
    await emu?.stop();
  });

  test("a session behind each kind of proxy links, sends and receives text and media; the proxies' logs show it", async () => {
    const viaSocks = await link("via-socks", "4915199997101", proxies.socksUrl);
    expect(viaSocks.proxy).toBe(`socks5://waproxy:***@127.0.0.1:${proxies.socksPort}`);
    const viaHttp = await link("via-http", "4915199997102", proxies.httpUrl);
    expect(viaHttp.proxy).toBe(`http://waproxy:***@127.0.0.1:${proxies.httpPort}`);
    for (const name of ["via-socks", "via-http"]) {
      const s = sessions[name]!;
      const st = await status(name);
      expect(st.proxy).toContain(":***@");
      expect(JSON.stringify(st)).not.toContain("proxy-pass-1");
      // Text out and in.
      const sent = await t.call("POST", `/sessions/${s.id}/messages`, { key: s.key, body: { to: CONTACT, text: `hello from ${name}` } });
      expect(sent.status).toBe(201);
      await waitFor(async () => (await received()).find((m) => m.id === sent.body.message.id), 20_000, `${name}'s text at the contact`);
      const back = await control("POST", "/control/messages", { from: CONTACT, to: s.phone, text: `hi ${name}` });
      expect(back.status).toBe(200);
      await waitFor(async () => (await t.call("GET", `/sessions/${s.id}/messages/${back.body.id}`, { key: s.key })).status === 200, 20_000, `the text to ${name}`);
      // Media out (an upload through the gateway) and in (a download through it).
      const picture = png();
      const out = await t.call("POST", `/sessions/${s.id}/messages`, { key: s.key, body: { to: CONTACT, type: "image", media: { data: picture.toString("base64") } } });
      expect(out.status).toBe(201);
      const got = await waitFor(async () => (await received()).find((m) => m.id === out.body.message.id), 30_000, `${name}'s image at the contact`);
      expect(got.media.sha256).toBe(sha256(picture));
      const incoming = png(32);
      const sentIn = await control("POST", "/control/messages", { from: CONTACT, to: s.phone, type: "image", media: { data: incoming.toString("base64"), mimetype: "image/png" } });
      expect(sentIn.status).toBe(200);
      const stored = await waitFor(async () => {
        const m = (await t.call("GET", `/sessions/${s.id}/messages/${sentIn.body.id}`, { key: s.key })).body.message;
        return m?.media?.state === "stored" ? m : null;
      }, 30_000, `the image to ${name} stored`);
      expect(stored.media.sha256).toBe(sha256(incoming));
    }
    expect(proxies.socksLog()).toContain("username%waproxy@");
    expect(proxies.httpLog()).toMatch(/CONNECT (127\.0\.0\.1|localhost):\d+/);
    const metrics = await t.call("GET", "/metrics");
    expect(metrics.body).toMatch(/wa_egress_connections_total\{via="socks5"\} [1-9]/);
    expect(metrics.body).toMatch(/wa_egress_connections_total\{via="http"\} [1-9]/);
  });

  test("the API restarted: sessions stay connected to WhatsApp (the emulator sees no reconnect)", async () => {
    const before = await sockets();
    await t.restartApi();
    for (const name of ["via-socks", "via-http"]) await waitFor(async () => (await status(name)).state === "ready", 30_000, `${name} ready after the restart`);
    // A moment for any reconnect to show.
    await Bun.sleep(2000);
    expect(await sockets()).toEqual(before);
    const s = sessions["via-socks"]!;
    const sent = await t.call("POST", `/sessions/${s.id}/messages`, { key: s.key, body: { to: CONTACT, text: "still here" } });
    expect(sent.status).toBe(201);
  });

  test("two sessions with different proxies never share one: stopping dante cuts only the session behind it", async () => {
    await proxies.stopSocks();
    try {
      // The session behind dante goes disconnected, naming its proxy; the one behind tinyproxy stays.
      const down = await waitFor(async () => {
        const st = await status("via-socks");
        return st.state === "disconnected" && /^proxy unreachable/.test(st.reason ?? "") ? st : null;
      }, 30_000, "via-socks disconnected naming the proxy");
      expect(down.reason).toStartWith("proxy unreachable");
      expect((await status("via-http")).state).toBe("ready");
      // Meanwhile the emulator sees no connection from it: nothing goes around the proxy.
      const during = (await sockets()).opened;
      await Bun.sleep(4000);
      expect((await sockets()).opened).toBe(during);
      const events = (await t.call("GET", `/sessions/${sessions["via-socks"]!.id}/events`, { key: sessions["via-socks"]!.key })).body.events as any[];
      // The change to disconnected came with the dropped connection; the proxy's failure, once known, is an event too.
      expect(events.some((e) => e.from === "disconnected" && e.to === "disconnected" && e.reason?.startsWith("proxy unreachable"))).toBe(true);
    } finally {
      await proxies.startSocks();
    }
    // Back once the proxy is, with the link it had (no new QR).
    const eventsBefore = (await t.call("GET", `/sessions/${sessions["via-socks"]!.id}/events`, { key: sessions["via-socks"]!.key })).body.events.length;
    await waitFor(async () => (await status("via-socks")).state === "ready", 45_000, "via-socks ready again");
    const after = (await t.call("GET", `/sessions/${sessions["via-socks"]!.id}/events`, { key: sessions["via-socks"]!.key })).body.events.slice(eventsBefore) as any[];
    expect(after.map((e) => e.to)).not.toContain("qr_ready");
  });

  test("wrong proxy credentials: disconnected with the reason, nothing direct; right ones again: ready, no new QR", async () => {
    const s = sessions["via-http"]!;
    const wrong = proxies.httpUrl.replace(":proxy-pass-1@", ":not-the-password@");
    const patched = await t.call("PATCH", `/sessions/${s.id}`, { key: s.key, body: { proxy: wrong } });
    expect(patched.status).toBe(200);
    expect(patched.body.session.proxy).toBe(`http://waproxy:***@127.0.0.1:${proxies.httpPort}`);
    expect(JSON.stringify(patched.body)).not.toContain("not-the-password");
    const opened = (await sockets()).opened;
    await waitFor(async () => {
      const st = await status("via-http");
      return st.state === "disconnected" && st.reason === "proxy authentication failed";
    }, 30_000, "disconnected: proxy authentication failed");
    await Bun.sleep(2000);
    expect((await sockets()).opened).toBe(opened);
    expect(await t.call("PATCH", `/sessions/${s.id}`, { key: s.key, body: { proxy: proxies.httpUrl } })).toMatchObject({ status: 200 });
    await waitFor(async () => (await status("via-http")).state === "ready", 45_000, "via-http ready with the right password");
    const events = (await t.call("GET", `/sessions/${s.id}/events`, { key: s.key })).body.events as any[];
    expect(events.filter((e) => e.to === "qr_ready").length).toBe(1);
  });

  test("a bad proxy URL is 400 naming the field, and changes nothing", async () => {
    const s = sessions["via-http"]!;
    for (const proxy of ["ftp://u:p@example.com:21", "socks5://example.com", "http://example.com:0", "socks4://example.com:1080", "not a url"]) {
      const res = await t.call("PATCH", `/sessions/${s.id}`, { key: s.key, body: { proxy, metadata: { changed: true } } });
      expect({ proxy, status: res.status, code: res.body.code, field: res.body.field }).toEqual({ proxy, status: 400, code: "VALIDATION_ERROR", field: "proxy" });
    }
    const created = await t.call("POST", "/sessions/create", { body: { name: "bad-proxy", proxy: "https://u:p@example.com:443" } });
    expect({ status: created.status, field: created.body.field }).toEqual({ status: 400, field: "proxy" });
    expect((await t.call("GET", "/sessions")).body.sessions.map((x: any) => x.name)).not.toContain("bad-proxy");
    expect((await status("via-http")).metadata).toBeNull();
  });

  test("from inside a session's container (a probe with the same options): only loopback, nothing reachable, and the gateway refuses what EGRESS_ALLOW does not name", async () => {
    const s = sessions["via-socks"]!;
    // A loopback server on the host the probe will try to reach through the gateway: it must never see a connection.
    let accepted = 0;
    const bait = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open() { accepted++; }, data() {} } });
    const apiPort = Number(new URL(t.url).port);
    const wsPort = Number(new URL(emu.wsUrl).port);
    const spec = t.runtime.spec(s.id, { env: {}, binds: [{ hostPath: sessionDir(t.api.config.egressDir, s.id), containerPath: CONTAINER_EGRESS_DIR }] });
    const name = `wa-probe-${crypto.randomUUID().slice(0, 8)}`;
    const targets = [
      { name: "apiOnHostLoopback", host: "127.0.0.1", port: apiPort },
      { name: "emulatorDirect", host: "127.0.0.1", port: wsPort },
      { name: "privateAddress", host: "10.0.0.1", port: 443 },
      { name: "metadata", host: "169.254.169.254", port: 80 },
    ];
    const script = `(async () => {
      const net = require("node:net"), os = require("node:os"), dns = require("node:dns/promises");
      const out = { interfaces: Object.keys(os.networkInterfaces()) };
      const attempt = (host, port) => new Promise((r) => { const c = net.connect({ host, port }); const timer = setTimeout(() => { c.destroy(); r("timeout"); }, 3000);
        c.on("connect", () => { clearTimeout(timer); c.destroy(); r("connected"); }); c.on("error", (e) => { clearTimeout(timer); r(e.code || e.message); }); });
      for (const t of JSON.parse(process.env.PROBE_TARGETS)) out[t.name] = await attempt(t.host, t.port);
      out.dns = await dns.lookup("web.whatsapp.com").then(() => "resolved", (e) => e.code || e.message);
      out.gateway = await new Promise((r) => { const c = net.connect("${CONTAINER_EGRESS_DIR}/${EGRESS_SOCKET}"); let b = "";
        c.on("connect", () => c.write("CONNECT " + process.env.PROBE_REFUSED + " HTTP/1.1\\r\\n\\r\\n"));
        c.on("data", (d) => { b += d; if (b.includes("\\r\\n\\r\\n")) { c.destroy(); r(b.split("\\r\\n")[0]); } }); c.on("error", (e) => r(e.code)); });
      console.log("PROBE " + JSON.stringify(out));
    })()`;
    const client = t.runtime.client;
    await createContainer(client, {
      ...spec,
      name,
      labels: {},
      volumes: [],
      restart_policy: "no",
      env: { BUN_BE_BUN: "1", PROBE_TARGETS: JSON.stringify(targets), PROBE_REFUSED: `127.0.0.1:${bait.port}` },
      command: ["-e", script],
    });
    try {
      await startContainer(client, name);
      await waitFor(async () => !(await inspectContainer(client, name)).State.Running, 30_000, "the probe to finish");
      const logs = Buffer.from(await (await client.fetch("GET", `/containers/${name}/logs`, { query: { stdout: "true", stderr: "true" } })).arrayBuffer());
      const line = /PROBE (\{.*\})/.exec(logs.toString("latin1"))?.[1];
      expect(line).toBeDefined();
      const out = JSON.parse(line!);
      expect(out.interfaces).toEqual(["lo"]);
      for (const target of targets) expect({ target: target.name, result: out[target.name] }).not.toEqual({ target: target.name, result: "connected" });
      expect(out.apiOnHostLoopback).toBe("ECONNREFUSED"); // the container's own loopback: nothing there
      expect(out.dns).not.toBe("resolved");
      expect(out.gateway).toStartWith("HTTP/1.1 403");
      expect(accepted).toBe(0);
    } finally {
      await removeContainer(client, name, { force: true }).catch(() => {});
      bait.stop(true);
    }
  });
});
