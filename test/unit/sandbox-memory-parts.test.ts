// The parts of the sandbox that exist to keep its memory small must not change what it does:
// WAProto's types defined on first use encode and decode exactly as the eager ones; the key
// cache keeps what Baileys asks it to, except one-time pre-keys; the small logger writes what
// pino would, only at the level asked for.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lazyProtoSource } from "../../sandbox/image/lazy-proto";
import { SignalKeyCache } from "../../sandbox/key-cache";
import baileysLogger from "../../sandbox/baileys-log";

const root = join(import.meta.dir, "../..");
const original = readFileSync(join(root, "node_modules/@whiskeysockets/baileys/WAProto/index.js"), "utf8");
// Inside the checkout, so the module's bare import (protobufjs) resolves as it does in the build.
const dir = mkdtempSync(join(root, ".test-lazy-proto-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("WAProto types defined on first use", () => {
  test("the rewritten module encodes, decodes and lists the same types as the original", async () => {
    const { code, types } = lazyProtoSource(original);
    expect(types).toBeGreaterThan(500);
    writeFileSync(join(dir, "eager.mjs"), original);
    writeFileSync(join(dir, "lazy.mjs"), code);
    const eager = (await import(join(dir, "eager.mjs"))).proto;
    const lazy = (await import(join(dir, "lazy.mjs"))).proto;
    expect(Object.keys(lazy).sort()).toEqual(Object.keys(eager).sort());
    const message = {
      conversation: "hello",
      extendedTextMessage: { text: "a reply", contextInfo: { stanzaId: "3EB0ABC", participant: "491511234567@s.whatsapp.net" } },
      imageMessage: { caption: "nested type", mimetype: "image/jpeg", fileLength: 1234 },
    };
    const bytes = (p: any) => Buffer.from(p.Message.encode(p.Message.fromObject(message)).finish()).toString("hex");
    expect(bytes(lazy)).toBe(bytes(eager));
    const decoded = lazy.Message.decode(Buffer.from(bytes(eager), "hex"));
    expect(lazy.Message.toObject(decoded)).toEqual(eager.Message.toObject(eager.Message.decode(Buffer.from(bytes(eager), "hex"))));
    expect(decoded.imageMessage).toBeInstanceOf(lazy.Message.ImageMessage);
    // Enums arrive as values too.
    expect(lazy.WebMessageInfo.Status.READ).toBe(eager.WebMessageInfo.Status.READ);
  });

  test("a file that no longer has the expected shape fails instead of shipping half-rewritten", () => {
    expect(() => lazyProtoSource(original.replace("export const proto = $root.proto = (() => {", "export const proto = {"))).toThrow(/not found/);
    const unterminated = "export const proto = $root.proto = (() => {\n    proto.A = (function() {\n        return 1;\n";
    expect(() => lazyProtoSource(unterminated)).toThrow(/without their end/);
  });
});

describe("signal key cache", () => {
  test("keeps sessions and sender keys, never one-time pre-keys; flushAll empties it", () => {
    const cache = new SignalKeyCache();
    try {
      expect(cache.set("session.4915112345678.0", { record: 1 })).toBe(true);
      expect(cache.set("sender-key.group@g.us::4915112345678::0", "k")).toBe(true);
      expect(cache.set("pre-key.17", { public: new Uint8Array(32) })).toBe(false);
      expect(cache.get("session.4915112345678.0")).toEqual({ record: 1 });
      expect(cache.get("pre-key.17")).toBeUndefined();
      expect(cache.del("sender-key.group@g.us::4915112345678::0")).toBe(true);
      expect(cache.get("sender-key.group@g.us::4915112345678::0")).toBeUndefined();
      cache.flushAll();
      expect(cache.get("session.4915112345678.0")).toBeUndefined();
    } finally {
      cache.close();
    }
  });
});

describe("Baileys' logger", () => {
  function captured(run: () => void): string[] {
    const lines: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string) => {
      lines.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    try {
      run();
    } finally {
      process.stdout.write = write;
    }
    return lines;
  }

  test("silent writes nothing; a level writes JSON lines at and above it, with a child's bindings", () => {
    expect(captured(() => baileysLogger({ level: "silent" }).error({ err: new Error("x") }, "boom"))).toEqual([]);
    const lines = captured(() => {
      const log = baileysLogger({ level: "info" });
      log.debug("not shown");
      log.child({ class: "socket" }).info({ attempt: 2, key: new Uint8Array(8) }, "connected");
      log.warn(new Error("lost"));
    });
    expect(lines).toHaveLength(2);
    const [info, warn] = lines.map((l) => JSON.parse(l));
    expect(info).toMatchObject({ level: 30, class: "socket", attempt: 2, key: "<8 bytes>", msg: "connected" });
    expect(warn).toMatchObject({ level: 40, msg: "lost", err: { type: "Error", message: "lost" } });
  });
});
