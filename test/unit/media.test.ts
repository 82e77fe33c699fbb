// Media files on in-memory PGlite with a real file store: an incoming file is kept only when its
// bytes are the message's (a wrong hash is a failure, never stored, and a retry with the right
// bytes stores it); a sent file is typed from its bytes; deleting a session removes its files
// but not a file another session's message carries.
import { afterAll, beforeEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import type { SessionRow } from "../../src/db/schema";
import { made, memoryDomain, type MemoryDomain } from "../support/memory-domain";

let d: MemoryDomain;
beforeEach(async () => {
  d = await memoryDomain(d);
});
afterAll(() => d?.close());

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const PDF = Buffer.from("%PDF-1.4\n% a test document\n%%EOF\n");

async function readySession(): Promise<{ s: SessionRow; launch: string }> {
  const { session } = await made(d.sessions.operations.create({ name: `m-${crypto.randomUUID().slice(0, 8)}` }));
  const launch = d.runtime.containers.get(session.id)!.launch.env.LAUNCH!;
  await d.sessions.reports.apply(session.id, launch, { type: "ready", phoneNumber: "4915112340001", pushName: null });
  return { s: (await d.repo.byId(session.id))!, launch };
}

async function incomingDocument(s: SessionRow, launch: string, id: string, bytes: Uint8Array) {
  await d.sessions.reports.apply(s.id, launch, {
    type: "message",
    message: { id, chatId: "4915112340002@s.whatsapp.net", fromMe: false, type: "document", text: null, caption: "x", media: { mimetype: "application/pdf", size: bytes.length, sha256: sha(bytes), fileName: "a.pdf" }, timestamp: 1_700_000_000, replyTo: null },
  });
}

test("bytes that are not the message's file are refused and not kept; the right bytes then are", async () => {
  const { s, launch } = await readySession();
  await incomingDocument(s, launch, "DOC1", PDF);
  expect((await d.messages.byId(s.id, "DOC1"))!.media).toMatchObject({ state: "pending" });
  const wrong = Buffer.from(PDF).fill(1, 20, 21);
  expect(await d.sessions.reports.mediaIn(s.id, launch, "DOC1", [wrong] as never)).toBe("mismatch");
  expect((await d.messages.byId(s.id, "DOC1"))!.media).toMatchObject({ state: "failed" });
  await expect(d.sessions.media.file(s, "DOC1")).rejects.toMatchObject({ code: "MEDIA_NOT_FOUND" });
  expect(await d.sessions.reports.mediaIn(s.id, launch, "DOC1", [PDF] as never)).toBe("stored");
  const file = await d.sessions.media.file(s, "DOC1");
  expect(file).toMatchObject({ size: PDF.length, media: { state: "stored", sha256: sha(PDF) } });
  expect(file.media.reason).toBeUndefined();
  expect(Buffer.from(await new Response(d.sessions.media.read(sha(PDF))).arrayBuffer())).toEqual(PDF);
  // More bytes than the message said: refused, nothing kept.
  await incomingDocument(s, launch, "DOC2", PDF.subarray(0, 10));
  expect(await d.sessions.reports.mediaIn(s.id, launch, "DOC2", [PDF] as never)).toBe("too-large");
  // Another launch's sandbox cannot upload.
  expect(await d.sessions.reports.mediaIn(s.id, "not-the-launch", "DOC1", [PDF] as never)).toBe("refused");
  expect(await d.sessions.reports.mediaIn(s.id, launch, "NOPE", [PDF] as never)).toBe("not-found");
});

test("deleting a session removes its files, except one another session's message carries", async () => {
  const a = await readySession();
  const b = await readySession();
  const own = Buffer.from("%PDF-1.4\n% only a's\n%%EOF\n");
  await incomingDocument(a.s, a.launch, "OWN", own);
  await d.sessions.reports.mediaIn(a.s.id, a.launch, "OWN", [own] as never);
  await incomingDocument(a.s, a.launch, "SHARED", PDF);
  await d.sessions.reports.mediaIn(a.s.id, a.launch, "SHARED", [PDF] as never);
  await incomingDocument(b.s, b.launch, "SHARED", PDF);
  await d.sessions.reports.mediaIn(b.s.id, b.launch, "SHARED", [PDF] as never);
  await d.sessions.operations.delete(a.s);
  await expect(d.sessions.media.file(b.s, "SHARED")).resolves.toMatchObject({ size: PDF.length });
  expect(await d.messages.mediaInUse(sha(own))).toBe(false);
  await expect(new Response(d.sessions.media.read(sha(own))).arrayBuffer()).rejects.toThrow();
});

test("a sent file's type comes from its bytes", async () => {
  const info = await d.sessions.media.accept({ type: "document", bytes: PDF, fileName: "x.pdf" });
  expect(info).toMatchObject({ mimetype: "application/pdf", size: PDF.length, sha256: sha(PDF), fileName: "x.pdf" });
  await expect(d.sessions.media.accept({ type: "image", bytes: PDF })).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
  await expect(d.sessions.media.accept({ type: "document", bytes: PDF, mimetype: "image/png" })).rejects.toMatchObject({ code: "MEDIA_TYPE_MISMATCH" });
  await expect(d.sessions.media.accept({ type: "document", bytes: new Uint8Array(0) })).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
});

test("retention: files of messages older than MEDIA_KEEP_DAYS are removed and their media is expired", async () => {
  const { s, launch } = await readySession();
  const bytes = Buffer.from("%PDF-1.4\n% kept a while\n%%EOF\n");
  await incomingDocument(s, launch, "OLD", bytes);
  await d.sessions.reports.mediaIn(s.id, launch, "OLD", [bytes] as never);
  expect(await d.sessions.media.expire(new Date(Date.now() - 60_000))).toBe(0);
  expect(await d.sessions.media.expire(new Date(Date.now() + 60_000))).toBeGreaterThanOrEqual(1);
  expect((await d.messages.byId(s.id, "OLD"))!.media).toMatchObject({ state: "expired" });
  await expect(d.sessions.media.file(s, "OLD")).rejects.toMatchObject({ code: "MEDIA_NOT_FOUND" });
});

test("a file still on its way after the sandbox stopped is failed by the sweep, and its message announced", async () => {
  const { s, launch } = await readySession();
  const bytes = Buffer.from("%PDF-1.4\n% never delivered\n%%EOF\n");
  await incomingDocument(s, launch, "STRANDED", bytes);
  expect(await d.sessions.media.failStale(new Date(Date.now() - 60_000))).toBe(0);
  expect(await d.sessions.media.failStale(new Date(Date.now() + 60_000))).toBeGreaterThanOrEqual(1);
  expect((await d.messages.byId(s.id, "STRANDED"))!.media).toMatchObject({ state: "failed", reason: "the file was not delivered by the session's sandbox" });
});
