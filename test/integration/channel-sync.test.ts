// Large accounts: a history sync of 100,000 contacts and 100,000 chats goes from a real
// ChannelClient through a real ChannelHub into SessionRepository on a real database (PGlite in a
// temp dir and a fresh PostgreSQL database), and every row arrives.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_SYNC_BATCH, type ChatReport, type ContactReport, type Report } from "../../src/channel/frames";
import { openDatabase, type Database } from "../../src/db/client";
import { SessionRepository } from "../../src/db/session-repository";
import { ChannelClient } from "../../sandbox/channel-client";
import { createTestDatabase } from "../support/databases";
import { quiet, serveHub, waitFor, type TestHub } from "../support/channel";

const ROWS = 100_000;

const contact = (i: number): ContactReport => ({
  id: `${4915100000000 + i}@s.whatsapp.net`,
  name: `Contact ${i}`,
  notify: i % 3 === 0 ? null : `c${i}`,
  verifiedName: null,
  phone: String(4915100000000 + i),
});
const chat = (i: number): ChatReport => ({
  id: i % 10 === 0 ? `1203630${i}@g.us` : `${4915100000000 + i}@s.whatsapp.net`,
  name: i % 10 === 0 ? `Group ${i}` : null,
  isGroup: i % 10 === 0,
  // Some chats say nothing of their unread count (a partial update): both statements are chunked.
  unreadCount: i % 7 === 0 ? null : i % 50,
  timestamp: 1_700_000_000 + i,
});

for (const backend of ["pglite", "postgres"] as const) {
  describe(`sync of a large account (${backend})`, () => {
    let database: Database;
    let repo: SessionRepository;
    let dataDir: string;
    let drop: (() => Promise<void>) | undefined;
    let t: TestHub;

    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), "wa-sync-"));
      const pg = backend === "postgres" ? await createTestDatabase() : undefined;
      drop = pg?.drop;
      database = await openDatabase({ databaseUrl: pg?.url, dataDir });
      repo = new SessionRepository(database.db);
      t = serveHub({
        onReport: async (sessionId, _launchId, report: Report) => {
          const session = (await repo.byId(sessionId))!;
          if (report.type === "contacts") await repo.upsertContacts(session, report.contacts);
          else if (report.type === "chats") await repo.upsertChats(session, report.chats);
        },
      });
    });
    afterAll(async () => {
      t?.close();
      await database?.close();
      await drop?.();
      rmSync(dataDir, { recursive: true, force: true });
    });

    async function newSession(): Promise<string> {
      const id = randomUUID();
      await repo.insert({ id, name: `sync-${id.slice(0, 8)}`, state: "ready", keyHash: randomUUID() });
      return id;
    }

    test("one upsert of 13,000 contacts (more bind parameters than one statement takes) is stored", async () => {
      const id = await newSession();
      const session = (await repo.byId(id))!;
      await repo.upsertContacts(session, Array.from({ length: 13_000 }, (_, i) => contact(i)));
      await repo.upsertChats(session, Array.from({ length: 13_000 }, (_, i) => chat(i)));
      expect((await repo.contacts(id)).length).toBe(13_000);
      expect((await repo.chats(id)).length).toBe(13_000);
    });

    test("100,000 contacts and 100,000 chats sync through the channel", async () => {
      const id = await newSession();
      const s = await t.session();
      t.launches.set(id, s.launchId);
      const client = new ChannelClient({
        url: t.url(id),
        token: await t.tokens.sign(id, s.launchId),
        log: quiet,
        onRequest: async () => ({}),
        maxUnacked: 5000,
      });
      const started = performance.now();
      client.start();
      const contacts = Array.from({ length: ROWS }, (_, i) => contact(i));
      const chats = Array.from({ length: ROWS }, (_, i) => chat(i));
      // As WhatsAppSession reports a history sync: one report per MAX_SYNC_BATCH rows.
      for (let i = 0; i < ROWS; i += MAX_SYNC_BATCH) {
        client.report({ type: "contacts", contacts: contacts.slice(i, i + MAX_SYNC_BATCH) });
        client.report({ type: "chats", chats: chats.slice(i, i + MAX_SYNC_BATCH) });
      }
      await waitFor(() => client.pending === 0, 55_000, "every report to be acknowledged");
      const seconds = (performance.now() - started) / 1000;
      client.close();

      const storedContacts = await repo.contacts(id);
      const storedChats = await repo.chats(id);
      expect(storedContacts.length).toBe(ROWS);
      expect(storedChats.length).toBe(ROWS);
      const byId = new Map(storedContacts.map((c) => [c.id, c]));
      for (const i of [0, 1, 4242, ROWS - 1]) {
        const { id: cid, name, notify, verifiedName, phone } = byId.get(contact(i).id)!;
        expect({ id: cid, name, notify, verifiedName, phone }).toEqual(contact(i));
      }
      // Newest first; a partial report stores no unread count.
      expect(storedChats[0]).toMatchObject({ id: chat(ROWS - 1).id, timestamp: 1_700_000_000 + ROWS - 1 });
      const seventh = storedChats.find((c) => c.id === chat(7).id)!;
      expect(seventh.unreadCount).toBe(0);
      console.log(`[${backend}] 2 x ${ROWS} rows synced through the channel in ${seconds.toFixed(1)} s`);
    }, 60_000);
  });
}
