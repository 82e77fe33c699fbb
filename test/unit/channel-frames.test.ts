// The frame checker is the channel's boundary: whatever a sandbox sends goes through it before
// the API acts on it. Each case here is something a hostile or broken sandbox can send.
import { describe, expect, test } from "bun:test";
import {
  apiFrameError,
  clip,
  MAX_FRAME_BYTES,
  MAX_SYNC_BATCH,
  readApiFrame,
  readSandboxFrame,
  resultError,
  sandboxFrameError,
} from "../../src/channel/frames";

const boot = "0b5f8f1e-2c1a-4f43-9a57-1f5f3e0c1a2b";
const contact = { id: "4915112345678@s.whatsapp.net", name: "Ann", notify: null, verifiedName: null, phone: "4915112345678" };
const chat = { id: "4915112345678@s.whatsapp.net", name: null, isGroup: false, unreadCount: 2, timestamp: 1706443200 };
const report = (r: unknown) => ({ kind: "report", seq: 1, boot, report: r });
const raw = (v: unknown) => JSON.stringify(v);

function refused(data: unknown): string {
  const checked = readSandboxFrame(data);
  if (checked.ok) throw new Error("frame was accepted");
  return checked.reason;
}

describe("frames from a sandbox", () => {
  test("well-formed frames of every kind are accepted as they are", () => {
    const frames = [
      report({ type: "qr", qr: "2@abc,def" }),
      report({ type: "connecting" }),
      report({ type: "ready", phoneNumber: "4915112345678", pushName: null }),
      report({ type: "disconnected", reason: "Connection Closed (428)" }),
      report({ type: "logged_out", reason: "" }),
      report({ type: "failed", reason: "QR not scanned" }),
      report({ type: "contacts", contacts: [contact] }),
      report({ type: "chats", chats: [chat, { ...chat, id: "123-456@g.us", isGroup: true, unreadCount: null, timestamp: null }] }),
      { kind: "response", id: "8d3c", ok: true, result: { anything: [1, 2] } },
      { kind: "response", id: "8d3c", ok: false, error: { code: "NOT_CONNECTED", message: "WhatsApp client is not running" } },
    ];
    for (const f of frames) expect(readSandboxFrame(raw(f))).toEqual({ ok: true, frame: f as never });
  });

  test("a frame that is not JSON, not text, or not an object is refused", () => {
    expect(refused("{kind: report")).toBe("not JSON");
    expect(refused("")).toBe("not JSON");
    expect(refused(Buffer.from(raw(report({ type: "connecting" }))))).toBe("not a text frame");
    expect(refused("null")).toContain("expected an object");
    expect(refused("[1,2]")).toContain("expected an object");
    expect(refused('"report"')).toContain("expected an object");
  });

  test("kinds the API never receives from a sandbox are refused", () => {
    expect(refused(raw({ kind: "ack", boot, seq: 1 }))).toBe('/kind: unexpected kind "ack"');
    expect(refused(raw({ kind: "token", token: "a.b.c" }))).toBe('/kind: unexpected kind "token"');
    expect(refused(raw({ kind: "request", id: "1", request: { type: "logout" } }))).toBe('/kind: unexpected kind "request"');
    expect(refused(raw({ seq: 1 }))).toBe("/kind: unexpected kind undefined");
    expect(refused(raw(report({ type: "hello" })))).toBe('/report/type: unexpected type "hello"');
  });

  test("an error response without a valid error is refused (the frame that used to crash the API)", () => {
    expect(refused(raw({ kind: "response", id: "8d3c", ok: false }))).toBe("/error: Expected required property");
    expect(refused(raw({ kind: "response", id: "8d3c", ok: false, error: { code: "X" } }))).toBe("/error/message: Expected required property");
    expect(refused(raw({ kind: "response", id: "8d3c", ok: false, error: "boom" }))).toContain("/error");
    expect(refused(raw({ kind: "response", id: "8d3c", ok: "yes", result: {} }))).toContain("/ok");
    const checked = readSandboxFrame(raw({ kind: "response", id: "8d3c", ok: false }));
    // The hub needs the id to fail the request the frame claims to answer.
    expect(checked.ok === false && checked.value).toEqual({ kind: "response", id: "8d3c", ok: false });
  });

  test("wrong types and missing fields are refused with the path that failed", () => {
    expect(refused(raw({ kind: "report", seq: "1", boot, report: { type: "connecting" } }))).toBe("/seq: Expected integer");
    expect(refused(raw({ kind: "report", seq: 1, report: { type: "connecting" } }))).toBe("/boot: Expected required property");
    expect(refused(raw(report({ type: "qr" })))).toBe("/report/qr: Expected required property");
    expect(refused(raw(report({ type: "ready", phoneNumber: 4915112345678, pushName: null })))).toBe("/report/phoneNumber: Expected string");
    expect(refused(raw(report({ type: "contacts", contacts: [{ ...contact, name: 5 }] })))).toContain("/report/contacts/0/name");
    expect(refused(raw(report({ type: "chats", chats: [{ ...chat, isGroup: "no" }] })))).toContain("/report/chats/0/isGroup");
    expect(refused(raw(report({ type: "contacts", contacts: {} })))).toBe("/report/contacts: Expected array");
  });

  test("extra fields are refused at every level", () => {
    expect(refused(raw({ ...report({ type: "connecting" }), extra: 1 }))).toBe("/extra: Unexpected property");
    expect(refused(raw(report({ type: "connecting", extra: 1 })))).toBe("/report/extra: Unexpected property");
    expect(refused(raw(report({ type: "contacts", contacts: [{ ...contact, admin: true }] })))).toBe("/report/contacts/0/admin: Unexpected property");
    expect(refused(raw({ kind: "response", id: "1", ok: false, error: { code: "X", message: "", stack: "..." } }))).toBe("/error/stack: Unexpected property");
    expect(refused('{"kind":"report","seq":1,"boot":"b","report":{"type":"connecting"},"__proto__":{"x":1}}')).toBe("/__proto__: Unexpected property");
  });

  test("numbers out of range are refused", () => {
    expect(refused(raw(report({ type: "chats", chats: [{ ...chat, unreadCount: -1 }] })))).toContain("/report/chats/0/unreadCount");
    expect(refused(raw(report({ type: "chats", chats: [{ ...chat, unreadCount: 1_000_001 }] })))).toContain("/report/chats/0/unreadCount");
    expect(refused(raw(report({ type: "chats", chats: [{ ...chat, unreadCount: 1.5 }] })))).toContain("/report/chats/0/unreadCount");
    expect(refused(raw(report({ type: "chats", chats: [{ ...chat, timestamp: -5 }] })))).toContain("/report/chats/0/timestamp");
    expect(refused(raw({ ...report({ type: "connecting" }), seq: 0 }))).toBe("/seq: Expected integer to be greater or equal to 1");
    expect(refused(raw({ ...report({ type: "connecting" }), seq: 1e300 }))).toContain("/seq");
  });

  test("oversized strings, arrays and frames are refused", () => {
    expect(refused(raw(report({ type: "qr", qr: "q".repeat(2049) })))).toContain("/report/qr");
    expect(refused(raw(report({ type: "failed", reason: "r".repeat(1025) })))).toContain("/report/reason");
    expect(refused(raw(report({ type: "contacts", contacts: [{ ...contact, id: "1".repeat(257) }] })))).toContain("/report/contacts/0/id");
    expect(refused(raw(report({ type: "contacts", contacts: [{ ...contact, name: "n".repeat(1025) }] })))).toContain("/report/contacts/0/name");
    expect(refused(raw({ ...report({ type: "connecting" }), boot: "b".repeat(65) }))).toContain("/boot");
    const many = Array.from({ length: MAX_SYNC_BATCH + 1 }, (_, i) => ({ ...contact, id: `${i}@s.whatsapp.net` }));
    expect(refused(raw(report({ type: "contacts", contacts: many })))).toContain("/report/contacts: Expected array length");
    expect(readSandboxFrame(raw(report({ type: "contacts", contacts: many.slice(1) }))).ok).toBe(true);
    const big = raw(report({ type: "failed", reason: "x".repeat(MAX_FRAME_BYTES) }));
    expect(refused(big)).toBe(`frame larger than ${MAX_FRAME_BYTES} bytes`);
    // Bytes count, not characters: 1.5 M three-byte characters are 4.5 MB.
    expect(refused(raw({ pad: "€".repeat(1_500_000) }))).toBe(`frame larger than ${MAX_FRAME_BYTES} bytes`);
  });

  test("text PostgreSQL cannot store and ids and phones of the wrong alphabet are refused", () => {
    expect(refused(raw(report({ type: "contacts", contacts: [{ ...contact, name: "a\u0000b" }] })))).toContain("/report/contacts/0/name");
    expect(refused(raw(report({ type: "contacts", contacts: [{ ...contact, id: "has space@lid" }] })))).toContain("/report/contacts/0/id");
    expect(refused(raw(report({ type: "contacts", contacts: [{ ...contact, phone: "+49 151" }] })))).toContain("/report/contacts/0/phone");
    expect(refused(raw(report({ type: "ready", phoneNumber: "", pushName: null })))).toContain("/report/phoneNumber");
    expect(refused(raw({ kind: "response", id: "a b", ok: true, result: {} }))).toContain("/id");
  });

  test("reasons are short and never carry the frame's content", () => {
    const secret = "s3cr3t-".repeat(100);
    for (const frame of [
      report({ type: "contacts", contacts: [{ ...contact, name: secret + "x".repeat(1024) }] }),
      { kind: secret, x: 1 },
      report({ type: secret }),
      { kind: "response", id: secret, ok: true, result: {} },
    ]) {
      const reason = refused(raw(frame));
      expect(reason.length).toBeLessThanOrEqual(200);
      expect(reason).not.toContain(secret.slice(0, 40));
    }
  });

  test("absurdly nested JSON is refused without throwing", () => {
    const deep = "[".repeat(1_000_000) + "]".repeat(1_000_000);
    expect(() => readSandboxFrame(deep)).not.toThrow();
    expect(readSandboxFrame(deep).ok).toBe(false);
  });
});

describe("results of requests", () => {
  test("each request type has its own result schema", () => {
    expect(resultError("check-number", { results: [{ phone: "4915112345678", exists: true, jid: "4915112345678@s.whatsapp.net" }] })).toBeNull();
    expect(resultError("check-number", { results: [{ phone: "4915112345678", exists: false, jid: null }] })).toBeNull();
    expect(resultError("pairing-code", { code: "ABCD-1234" })).toBeNull();
    expect(resultError("logout", {})).toBeNull();
  });

  test("a result of the wrong shape is explained", () => {
    expect(resultError("check-number", {})).toBe("/result/results: Expected required property");
    expect(resultError("check-number", { results: [{ phone: "4915112345678", exists: "yes", jid: null }] })).toContain("/result/results/0/exists");
    expect(resultError("check-number", { results: "none" })).toContain("/result/results");
    expect(resultError("check-number", null)).toContain("/result");
    expect(resultError("pairing-code", { code: 12345678 })).toContain("/result/code");
    expect(resultError("pairing-code", { code: "x".repeat(65) })).toContain("/result/code");
    expect(resultError("logout", { loggedOut: true })).toBe("/result/loggedOut: Unexpected property");
  });
});

describe("frames from the API", () => {
  test("acks, requests and tokens are accepted; sandbox kinds are refused", () => {
    for (const f of [
      { kind: "ack", boot, seq: 3 },
      { kind: "request", id: "5a1e", request: { type: "check-number", phones: ["4915112345678"] } },
      { kind: "request", id: "5a1e", request: { type: "pairing-code", phoneNumber: "4915112345678" } },
      { kind: "request", id: "5a1e", request: { type: "logout" } },
      { kind: "token", token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln" },
    ]) {
      expect(readApiFrame(raw(f))).toEqual({ ok: true, frame: f as never });
      expect(apiFrameError(f)).toBeNull();
    }
    const r = readApiFrame(raw(report({ type: "connecting" })));
    expect(r.ok === false && r.reason).toBe('/kind: unexpected kind "report"');
  });

  test("malformed requests are refused with the request's path", () => {
    expect(apiFrameError({ kind: "request", id: "1", request: { type: "check-number", phones: [] } })).toContain("/request/phones");
    expect(apiFrameError({ kind: "request", id: "1", request: { type: "check-number", phones: ["49abc"] } })).toContain("/request/phones/0");
    expect(apiFrameError({ kind: "request", id: "1", request: { type: "reboot" } })).toBe('/request/type: unexpected type "reboot"');
    expect(apiFrameError({ kind: "token", token: "not a jwt" })).toContain("/token");
    expect(apiFrameError({ kind: "ack", boot, seq: -1 })).toContain("/seq");
  });

  test("what a sandbox sends is checked with the same schemas", () => {
    expect(sandboxFrameError(report({ type: "connecting" }))).toBeNull();
    expect(sandboxFrameError(report({ type: "ready", phoneNumber: "me@s.whatsapp.net", pushName: null }))).toContain("/report/phoneNumber");
  });
});

test("clip cuts text without splitting a surrogate pair and drops NULs", () => {
  expect(clip("abc", 5)).toBe("abc");
  expect(clip("abcdef", 3)).toBe("abc");
  expect(clip("ab😀", 3)).toBe("ab");
  expect(clip("a\u0000b", 5)).toBe("ab");
});
