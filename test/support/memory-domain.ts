// The session domain assembled over in-memory PGlite with the runtime and channel seams played
// in memory: what unit tests of the domain's rules start from.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase, type Database } from "../../src/db/client";
import { FileMediaStore } from "../../src/media/store";
import { DeliveryRepository } from "../../src/db/delivery-repository";
import { GroupRepository } from "../../src/db/group-repository";
import { MessageChanges } from "../../src/db/message-changes";
import { MessageRepository } from "../../src/db/message-repository";
import { SessionRepository } from "../../src/db/session-repository";
import { silentLogger } from "../../src/log";
import { createSessions, type Sessions, type StateChange } from "../../src/sessions";
import { ProxySecrets } from "../../src/egress/proxy-secrets";
import { SessionProxies } from "../../src/sessions/proxies";
import { WebhookSecrets } from "../../src/webhooks/secrets";
import { MemoryLink, MemoryRuntime } from "./memory-runtime";
import { singleNode } from "../../src/sessions/placement";

export interface MemoryDomain {
  db: Database;
  repo: SessionRepository;
  messages: MessageRepository;
  store: FileMediaStore;
  runtime: MemoryRuntime;
  link: MemoryLink;
  sessions: Sessions;
  changes: StateChange[];
  close(): Promise<void>;
}

/** A fresh domain; the database of `previous` is reused (one PGlite per test file is enough). */
export async function memoryDomain(previous?: MemoryDomain): Promise<MemoryDomain> {
  const db = previous?.db ?? (await openDatabase({ dataDir: null }));
  const repo = new SessionRepository(db.db);
  const messages = new MessageRepository(db.db);
  const runtime = new MemoryRuntime();
  const link = new MemoryLink();
  const changes: StateChange[] = [];
  const store = new FileMediaStore(mkdtempSync(join(tmpdir(), "wa-media-")));
  const sessions = createSessions({
    repo,
    deliveries: new DeliveryRepository(db.db),
    messages,
    groups: new GroupRepository(db.db),
    messageChanges: new MessageChanges(db.db),
    secrets: new WebhookSecrets(new Uint8Array(32)),
    proxies: new SessionProxies({ secrets: new ProxySecrets(new Uint8Array(32)), gateway: null, allowPrivate: true, log: silentLogger }),
    runtime,
    link,
    launch: async (sessionId, launchId) => ({ env: { SESSION_ID: sessionId, LAUNCH: launchId }, binds: [] }),
    mediaStore: store,
    placement: singleNode("node-a", 1000),
    authState: null,
    cluster: null,
    config: { createConcurrency: 4, checkNumberPerMinute: 2, requestTimeoutMs: 200, allowPrivateAddresses: true, sendPerMinute: 3, channelWaitMs: 0, mediaMaxBytes: 1024 * 1024, mediaFetchTimeoutMs: 5000, mediaAutoDownload: true, ffmpegPath: "ffmpeg" },
    log: silentLogger,
    listener: { stateChanged: (c) => changes.push(c) },
  });
  return { db, repo, messages, store, runtime, link, sessions, changes, close: () => db.close() };
}

/** A create's answer once its container was made too (the route answers before that). */
export async function made<T extends { container: Promise<void> }>(creating: Promise<T>): Promise<T> {
  const res = await creating;
  await res.container;
  return res;
}
