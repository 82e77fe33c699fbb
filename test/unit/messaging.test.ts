// Messaging rules on in-memory PGlite with the sandbox's link played in memory: stored before it
// leaves, handed over once the channel is there, idempotent, limited, statuses only forward,
// incoming messages kept once with their chat.
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import type { SandboxRequest } from "../../src/channel/frames";
import { ChannelError, SandboxUnavailable } from "../../src/channel/link";
import type { SessionRow } from "../../src/db/schema";
import { SessionError } from "../../src/sessions";
import { made, memoryDomain, type MemoryDomain } from "../support/memory-domain";

let d: MemoryDomain;
let sent: SandboxRequest[];

beforeEach(async () => {
  d = await memoryDomain(d);
  sent = [];
  d.link.answer = async (_id, req) => {
    sent.push(req);
    if (req.type === "send") return { timestamp: 1_764_000_000 };
    return {};
  };
});
afterAll(() => d?.close());

async function readySession(connected = true): Promise<SessionRow> {
  const { session } = await made(d.sessions.operations.create({ name: `m-${crypto.randomUUID().slice(0, 8)}` }));
  const launch = d.runtime.containers.get(session.id)!.launch.env.LAUNCH!;
  await d.sessions.reports.apply(session.id, launch, { type: "ready", phoneNumber: "4915112340001", pushName: null });
  if (connected) d.link.connected.add(session.id);
  return (await d.repo.byId(session.id))!;
}
const launchOf = (id: string) => d.runtime.containers.get(id)!.launch.env.LAUNCH!;
async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => null, (e) => e);
  expect(err).toBeInstanceOf(SessionError);
  return err.code;
}

describe("sending", () => {
  test("a message is stored, handed to the sandbox under its own id, and sent", async () => {
    const s = await readySession();
    const m = await d.sessions.messaging.send(s, { to: "+4915112340002", text: "hello" }, null);
    expect(m).toMatchObject({ chatId: "4915112340002@s.whatsapp.net", fromMe: true, text: "hello", status: "sent", timestamp: 1_764_000_000 });
    expect(m.id).toMatch(/^3EB0[0-9A-F]{20}$/);
    expect(sent).toEqual([{ type: "send", message: { id: m.id, to: "4915112340002@s.whatsapp.net", type: "text", text: "hello", replyTo: null } }]);
  });

  test("without a channel it waits as pending and goes when the channel is back, in order", async () => {
    const s = await readySession(false);
    const a = await d.sessions.messaging.send(s, { to: "4915112340002", text: "one" }, null);
    const b = await d.sessions.messaging.send(s, { to: "4915112340002", text: "two" }, null);
    expect([a.status, b.status]).toEqual(["pending", "pending"]);
    expect(sent).toEqual([]);
    d.link.connected.add(s.id);
    await d.sessions.messaging.flush(s);
    expect(sent.map((r) => (r.type === "send" ? r.message.text : ""))).toEqual(["one", "two"]);
    expect((await d.sessions.messaging.get(s, a.id)).status).toBe("sent");
  });

  test("a sandbox that does not answer leaves it pending; its later receipt moves it on", async () => {
    const s = await readySession();
    d.link.answer = async () => {
      const { SandboxTimeout } = await import("../../src/channel/link");
      throw new SandboxTimeout("slow");
    };
    const m = await d.sessions.messaging.send(s, { to: "4915112340002", text: "slow" }, null);
    expect(m.status).toBe("pending");
    await d.sessions.reports.apply(s.id, launchOf(s.id), { type: "message_status", id: m.id, chatId: m.chatId, status: "delivered" });
    expect((await d.sessions.messaging.get(s, m.id)).status).toBe("delivered");
  });

  test("an answer later than SANDBOX_REQUEST_TIMEOUT_MS (200 ms here) still marks the message sent", async () => {
    const s = await readySession();
    d.link.answer = async () => {
      await Bun.sleep(400);
      return { timestamp: 1_764_000_005 };
    };
    const m = await d.sessions.messaging.send(s, { to: "4915112340002", text: "late" }, null);
    expect(m.status).toBe("pending");
    await Bun.sleep(500);
    expect(await d.sessions.messaging.get(s, m.id)).toMatchObject({ status: "sent", timestamp: 1_764_000_005 });
  });

  test("the answer after the timeout is the message as stored by then", async () => {
    const s = await readySession();
    d.link.answer = async () => new Promise(() => {});
    const launch = launchOf(s.id);
    // The receipt comes while the client waits for the sandbox.
    const sending = d.sessions.messaging.send(s, { to: "4915112340002", text: "receipt first" }, null);
    await Bun.sleep(100);
    const [row] = await d.messages.pendingOutgoing(s.id);
    await d.sessions.reports.apply(s.id, launch, { type: "message_status", id: row!.id, chatId: row!.chatId, status: "delivered" });
    expect((await sending).status).toBe("delivered");
  });

  test("the same Idempotency-Key answers the first message and sends nothing new", async () => {
    const s = await readySession();
    const first = await d.sessions.messaging.send(s, { to: "4915112340002", text: "once" }, "key-1");
    const again = await d.sessions.messaging.send(s, { to: "4915112340002", text: "once" }, "key-1");
    expect(again.id).toBe(first.id);
    expect(sent).toHaveLength(1);
  });

  test("a key used before answers as the first send did: 422 again, or the message after the session stopped", async () => {
    const s = await readySession();
    d.link.answer = async (_id, req) => {
      if (req.type === "send" && req.message.to.startsWith("4915112349999")) throw new ChannelError("NOT_ON_WHATSAPP", "no");
      return { timestamp: 1_764_000_000 };
    };
    const first = await d.sessions.messaging.send(s, { to: "4915112349999", text: "x" }, "k-422").catch((e) => e);
    const again = await d.sessions.messaging.send(s, { to: "4915112349999", text: "x" }, "k-422").catch((e) => e);
    expect([first.code, again.code]).toEqual(["NOT_ON_WHATSAPP", "NOT_ON_WHATSAPP"]);
    expect(again.details.messageId).toBe(first.details.messageId);
    const sent = await d.sessions.messaging.send(s, { to: "4915112340002", text: "y" }, "k-ok");
    await d.repo.transition(s.id, "ready", "stopped", "test");
    const stopped = (await d.repo.byId(s.id))!;
    expect(await d.sessions.messaging.send(stopped, { to: "4915112340002", text: "y" }, "k-ok")).toMatchObject({ id: sent.id, status: "sent" });
    expect(await codeOf(d.sessions.messaging.send(stopped, { to: "4915112340002", text: "y" }, "k-new"))).toBe("INVALID_SESSION_STATE");
  });

  test("a number not on WhatsApp is 422 and the message is failed", async () => {
    const s = await readySession();
    d.link.answer = async () => {
      throw new ChannelError("NOT_ON_WHATSAPP", "no");
    };
    const err = await d.sessions.messaging.send(s, { to: "4915112349999", text: "x" }, null).catch((e) => e);
    expect(err.code).toBe("NOT_ON_WHATSAPP");
    expect((await d.sessions.messaging.get(s, err.details.messageId)).status).toBe("failed");
  });

  test("bad numbers, wrong states and too many sends are refused before anything is stored", async () => {
    const s = await readySession();
    expect(await codeOf(d.sessions.messaging.send(s, { to: "12ab", text: "x" }, null))).toBe("INVALID_PHONE_NUMBER");
    for (const to of ["-----@g.us", "1-2-3@g.us", "123456-@g.us"]) expect(await codeOf(d.sessions.messaging.send(s, { to, text: "x" }, null))).toBe("INVALID_PHONE_NUMBER");
    expect(await d.messages.listChat(s.id, "-----@g.us", 10, null)).toEqual([]);
    const { session: fresh } = await made(d.sessions.operations.create({ name: `m-${crypto.randomUUID().slice(0, 8)}` }));
    expect(await codeOf(d.sessions.messaging.send((await d.repo.byId(fresh.id))!, { to: "4915112340002", text: "x" }, null))).toBe("INVALID_SESSION_STATE");
    // SEND_PER_MINUTE is 3 here.
    for (let i = 0; i < 3; i++) await d.sessions.messaging.send(s, { to: "4915112340002", text: `n${i}` }, null);
    expect(await codeOf(d.sessions.messaging.send(s, { to: "4915112340002", text: "n3" }, null))).toBe("RATE_LIMITED");
  });
});

describe("receiving", () => {
  const incoming = (id: string, text: string, timestamp: number) => ({
    type: "message" as const,
    message: { id, chatId: "4915112340002@s.whatsapp.net", fromMe: false, type: "text" as const, text, timestamp, replyTo: null },
  });

  test("an incoming message is stored once, counts as unread in its chat, and pages newest first", async () => {
    const s = await readySession();
    const launch = launchOf(s.id);
    for (let i = 1; i <= 3; i++) await d.sessions.reports.apply(s.id, launch, incoming(`IN${i}`, `hi ${i}`, 1_700_000_000 + i));
    await d.sessions.reports.apply(s.id, launch, incoming("IN3", "hi 3", 1_700_000_003)); // resent after a reconnect
    const [chat] = (await d.repo.chats(s.id)).filter((c) => c.id === "4915112340002@s.whatsapp.net");
    expect(chat).toMatchObject({ unreadCount: 3, timestamp: 1_700_000_003 });
    const page1 = await d.sessions.messaging.list(s, "4915112340002", 2, undefined);
    expect(page1.messages.map((m) => m.id)).toEqual(["IN3", "IN2"]);
    const page2 = await d.sessions.messaging.list(s, "4915112340002@s.whatsapp.net", 2, page1.nextCursor!);
    expect(page2).toMatchObject({ nextCursor: null });
    expect(page2.messages.map((m) => m.id)).toEqual(["IN1"]);
    // A page that ends exactly at the last message says it is the last.
    expect((await d.sessions.messaging.list(s, "4915112340002", 3, undefined)).nextCursor).toBeNull();
    expect(await codeOf(d.sessions.messaging.list(s, "4915112340002", 2, "garbage"))).toBe("VALIDATION_ERROR");

    expect(await d.sessions.messaging.markRead(s, "4915112340002")).toBe(3);
    expect(sent.at(-1)).toEqual({ type: "read", chatId: "4915112340002@s.whatsapp.net", ids: expect.arrayContaining(["IN1", "IN2", "IN3"]) });
    expect((await d.repo.chats(s.id)).find((c) => c.id === "4915112340002@s.whatsapp.net")!.unreadCount).toBe(0);
    expect((await d.sessions.messaging.get(s, "IN2")).status).toBe("read");
  });

  test("messages of the same second page in the order they were stored, newest first", async () => {
    const s = await readySession();
    const launch = launchOf(s.id);
    // Ids in the opposite order to arrival: the order must not come from them.
    for (const [id, text] of [["Z1", "one"], ["M2", "two"], ["A3", "three"], ["Q4", "four"]]) {
      await d.sessions.reports.apply(s.id, launch, incoming(id!, text!, 1_700_000_100));
    }
    const first = await d.sessions.messaging.list(s, "4915112340002", 3, undefined);
    expect(first.messages.map((m) => m.text)).toEqual(["four", "three", "two"]);
    const rest = await d.sessions.messaging.list(s, "4915112340002", 3, first.nextCursor!);
    expect(rest).toMatchObject({ nextCursor: null });
    expect(rest.messages.map((m) => m.text)).toEqual(["one"]);
  });

  test("more unread than one read request takes go in several, and all are read", async () => {
    const s = await readySession();
    for (let i = 0; i < 1001; i++) {
      await d.messages.insertIncoming(s, { id: `BULK${i}`, chatId: "4915112340003@s.whatsapp.net", fromMe: false, type: "text", text: "x", replyTo: null, status: "delivered", timestamp: 1_700_000_000 + i });
    }
    expect(await d.sessions.messaging.markRead(s, "4915112340003")).toBe(1001);
    const reads = sent.filter((r) => r.type === "read");
    expect(reads.map((r) => (r.type === "read" ? r.ids.length : 0))).toEqual([1000, 1]);
    expect(new Set(reads.flatMap((r) => (r.type === "read" ? r.ids : []))).size).toBe(1001);
  });

  test("100,000 unread are read in bounded statements; a retry after a failure sends only what is left", async () => {
    const s = await readySession();
    const chat = "4915112340004@s.whatsapp.net";
    // Stored in one statement: 100,000 single inserts would take most of a minute.
    await d.db.db.execute(sql`insert into messages (session_id, id, chat_id, from_me, type, text, status, timestamp)
      select ${s.id}::uuid, 'HUGE' || g, ${chat}, false, 'text', 'x', 'delivered', 1700000000 + g / 10 from generate_series(1, 100000) g`);
    await d.db.db.execute(sql`insert into chats (session_id, id, is_group, unread_count) values (${s.id}::uuid, ${chat}, false, 100000)`);
    let failAt = 3;
    d.link.answer = async (_id, req) => {
      if (req.type === "read" && --failAt === 0) throw new SandboxUnavailable("the sandbox left");
      sent.push(req);
      return {};
    };
    expect(await codeOf(d.sessions.messaging.markRead(s, chat))).toBe("SANDBOX_UNAVAILABLE");
    const firstTry = sent.flatMap((r) => (r.type === "read" ? r.ids : []));
    expect(firstTry.length).toBe(2000);
    expect(await d.sessions.messaging.markRead(s, chat)).toBe(98_000);
    const all = sent.flatMap((r) => (r.type === "read" ? r.ids : []));
    // Every message got its receipt exactly once, in requests of at most 1,000.
    expect(all.length).toBe(100_000);
    expect(new Set(all).size).toBe(100_000);
    expect(Math.max(...sent.map((r) => (r.type === "read" ? r.ids.length : 0)))).toBe(1000);
    expect((await d.repo.chats(s.id)).find((c) => c.id === chat)!.unreadCount).toBe(0);
    expect((await d.messages.unreadIncoming(s.id, chat, 10)).length).toBe(0);
    expect(await d.sessions.messaging.markRead(s, chat)).toBe(0);
  }, 120_000);

  test("a reply carries the replied-to message for WhatsApp's quote: whose it was and its text", async () => {
    const s = await readySession();
    await d.sessions.reports.apply(s.id, launchOf(s.id), incoming("THEIRS1", "Is my order ready?", 1_700_000_200));
    const toTheirs = await d.sessions.messaging.send(s, { to: "4915112340002", text: "Yes", replyTo: "THEIRS1" }, null);
    await d.sessions.messaging.send(s, { to: "4915112340002", text: "It ships today", replyTo: toTheirs.id }, null);
    await d.sessions.messaging.send(s, { to: "4915112340002", text: "?", replyTo: "UNKNOWN1" }, null);
    const frames = sent.flatMap((r) => (r.type === "send" ? [r.message] : []));
    expect(frames.map((m) => m.quoted)).toEqual([{ fromMe: false, text: "Is my order ready?" }, { fromMe: true, text: "Yes" }, undefined]);
    expect(frames.map((m) => m.replyTo)).toEqual(["THEIRS1", toTheirs.id, "UNKNOWN1"]);
  });

  test("statuses only move forward", async () => {
    const s = await readySession();
    const m = await d.sessions.messaging.send(s, { to: "4915112340002", text: "x" }, null);
    const launch = launchOf(s.id);
    await d.sessions.reports.apply(s.id, launch, { type: "message_status", id: m.id, chatId: m.chatId, status: "read" });
    await d.sessions.reports.apply(s.id, launch, { type: "message_status", id: m.id, chatId: m.chatId, status: "delivered" });
    expect((await d.sessions.messaging.get(s, m.id)).status).toBe("read");
  });

  test("a receipt naming another chat than the message's moves nothing; the event carries the stored chat", async () => {
    const { session } = await made(d.sessions.operations.create({ name: `m-${crypto.randomUUID().slice(0, 8)}`, webhookUrl: "http://127.0.0.1:9/hook" }));
    const launch = launchOf(session.id);
    await d.sessions.reports.apply(session.id, launch, { type: "ready", phoneNumber: "4915112340001", pushName: null });
    d.link.connected.add(session.id);
    const s = (await d.repo.byId(session.id))!;
    const m = await d.sessions.messaging.send(s, { to: "4915112340002", text: "x" }, null);
    await d.sessions.reports.apply(s.id, launch, { type: "message_status", id: m.id, chatId: "4915112349999@s.whatsapp.net", status: "read" });
    expect((await d.sessions.messaging.get(s, m.id)).status).toBe("sent");
    await d.sessions.reports.apply(s.id, launch, { type: "message_status", id: m.id, chatId: m.chatId, status: "delivered" });
    expect((await d.sessions.messaging.get(s, m.id)).status).toBe("delivered");
    const events = (await d.db.db.execute(sql`select body from webhook_deliveries where session_id = ${s.id}::uuid and event = 'message.status' order by seq`)) as unknown;
    const rows = (Array.isArray(events) ? events : (events as { rows: { body: string }[] }).rows) as { body: string }[];
    expect(rows.map((r) => JSON.parse(r.body).data)).toEqual([
      { id: m.id, chatId: m.chatId, status: "sent" },
      { id: m.id, chatId: m.chatId, status: "delivered" },
    ]);
  });

  test("a stopped session stores no messages", async () => {
    const s = await readySession();
    const launch = launchOf(s.id);
    await d.repo.transition(s.id, "ready", "stopped", "test");
    await d.sessions.reports.apply(s.id, launch, incoming("LATE", "late", 1));
    expect(await d.messages.byId(s.id, "LATE")).toBeUndefined();
  });
});
