// The session domain, assembled: one queue per session shared by every part that changes a
// session, one transition engine, and the parts the HTTP layer and the channel call.
import type { SandboxLink } from "../channel/link";
import type { DeliveryRepository } from "../db/delivery-repository";
import type { GroupRepository } from "../db/group-repository";
import type { MessageChanges } from "../db/message-changes";
import type { MessageRepository } from "../db/message-repository";
import type { SessionRepository } from "../db/session-repository";
import type { Logger } from "../log";
import type { SandboxLaunch, SessionRuntime } from "../runtime/types";
import { Limiter } from "../limits";
import { SessionOperations } from "./operations";
import { SessionQueries } from "./queries";
import { ReportIngest } from "./reports";
import { RuntimeSync } from "./runtime-sync";
import { SandboxCalls } from "./sandbox-calls";
import { SessionQueues } from "./session-queue";
import { Transitions, type SessionListener } from "./transitions";
import type { WebhookSecrets } from "../webhooks/secrets";
import type { SessionProxies } from "./proxies";
import { WebhookSettings } from "./webhook-settings";
import type { MediaStore } from "../media/store";
import { MediaFiles } from "./media";
import { MediaSources } from "./media-sources";
import { ffmpegTools } from "../media/ffmpeg";
import { MediaPreparer } from "../media/prepare";
import { Conversations } from "./conversation";
import { Groups } from "./groups";
import { Messaging } from "./messaging";
import type { Placement } from "./placement";
import type { AuthStateMirror } from "./auth-state";
import { Handovers } from "./handovers";
import type { NodeRepository, NodeView } from "../db/node-repository";

export interface SessionsDeps {
  repo: SessionRepository;
  deliveries: DeliveryRepository;
  messages: MessageRepository;
  groups: GroupRepository;
  /** Reactions, edits, deletes and votes on stored messages. */
  messageChanges: MessageChanges;
  secrets: WebhookSecrets;
  /** Sessions' proxies (checked, sealed, told to the egress gateway). */
  proxies: SessionProxies;
  runtime: SessionRuntime;
  link: SandboxLink;
  launch: (sessionId: string, launchId: string) => Promise<SandboxLaunch>;
  /** Where media files live (DATA_DIR/media by default). */
  mediaStore: MediaStore;
  /** This node, and where new sessions go. */
  placement: Placement;
  /** The mirrored auth state (null when AUTH_STATE_MIRROR is off). */
  authState: AuthStateMirror | null;
  /** Nodes sharing the database (PostgreSQL); null for one node alone (PGlite). */
  cluster: { nodes: NodeRepository; views: () => readonly NodeView[]; steady: () => boolean; capacity: number; deadSeconds: number } | null;
  config: {
    createConcurrency: number;
    checkNumberPerMinute: number;
    requestTimeoutMs: number;
    allowPrivateAddresses: boolean;
    sendPerMinute: number;
    channelWaitMs: number;
    mediaMaxBytes: number;
    mediaFetchTimeoutMs: number;
    mediaAutoDownload: boolean;
    ffmpegPath: string;
  };
  log: Logger;
  listener?: SessionListener;
}

export interface Sessions {
  queries: SessionQueries;
  operations: SessionOperations;
  calls: SandboxCalls;
  reports: ReportIngest;
  runtimeSync: RuntimeSync;
  webhooks: WebhookSettings;
  proxies: SessionProxies;
  messaging: Messaging;
  groups: Groups;
  conversations: Conversations;
  media: MediaFiles;
  /** MEDIA_MAX_BYTES. */
  mediaMaxBytes: number;
  /** Where a form's file part is written before the store takes it in. */
  uploadDir: string;
  /** How long logout waits for the sandbox to unlink at WhatsApp. */
  requestTimeoutMs: number;
  /** Sessions changing node (null for one node alone). */
  handovers: Handovers | null;
  placement: Placement;
}

export function createSessions(deps: SessionsDeps): Sessions {
  const { repo, runtime, link, launch, log } = deps;
  const queues = new SessionQueues();
  const transitions = new Transitions(repo, log, deps.listener);
  const queries = new SessionQueries(repo, (session, at) => deps.listener?.touched?.(session, at));
  const calls = new SandboxCalls({ link, log, ...deps.config });
  const webhooks = new WebhookSettings({
    repo,
    deliveries: deps.deliveries,
    secrets: deps.secrets,
    allowPrivate: deps.config.allowPrivateAddresses,
    onRequeued: (id) => deps.listener?.written?.(id),
  });
  const media = new MediaFiles({
    messages: deps.messages,
    store: deps.mediaStore,
    maxBytes: deps.config.mediaMaxBytes,
    prepare: new MediaPreparer(ffmpegTools(deps.config.ffmpegPath)),
    link,
    requestTimeoutMs: deps.config.requestTimeoutMs,
    channelWaitMs: deps.config.channelWaitMs,
    log,
    sessionOf: (id) => repo.byId(id).then((r) => r ?? null),
    onWritten: (id) => deps.listener?.written?.(id),
  });
  const groups = new Groups({
    groups: deps.groups,
    link,
    log,
    requestTimeoutMs: deps.config.requestTimeoutMs,
    channelWaitMs: deps.config.channelWaitMs,
    onWritten: (id) => deps.listener?.written?.(id),
  });
  const messaging = new Messaging({
    groups,
    media,
    sources: new MediaSources({
      allowPrivate: deps.config.allowPrivateAddresses,
      timeoutMs: deps.config.mediaFetchTimeoutMs,
      maxBytes: deps.config.mediaMaxBytes,
    }),
    mediaMaxBytes: deps.config.mediaMaxBytes,
    mediaAutoDownload: deps.config.mediaAutoDownload,
    messages: deps.messages,
    link,
    log,
    sendPerMinute: deps.config.sendPerMinute,
    requestTimeoutMs: deps.config.requestTimeoutMs,
    channelWaitMs: deps.config.channelWaitMs,
    onWritten: (id) => deps.listener?.written?.(id),
  });
  const conversations = new Conversations({
    messages: deps.messages,
    changes: deps.messageChanges,
    groups,
    media,
    link,
    log,
    requestTimeoutMs: deps.config.requestTimeoutMs,
    channelWaitMs: deps.config.channelWaitMs,
    onWritten: (id) => deps.listener?.written?.(id),
  });
  const creates = new Limiter(deps.config.createConcurrency);
  const operations = new SessionOperations({
    repo,
    runtime,
    link,
    queues,
    transitions,
    launch,
    log,
    placement: deps.placement,
    authState: deps.authState,
    webhooks,
    proxies: deps.proxies,
    creates,
    media,
    onDeleted: (id) => {
      queries.forget(id);
      calls.forget(id);
      messaging.forget(id);
      deps.listener?.deleted?.(id);
    },
  });
  const self = deps.placement.self;
  const core = { repo, runtime, link, queues, transitions, launch, log };
  const leaving = new Set<string>();
  const handovers = deps.cluster
    ? new Handovers({ ...core, ...deps.cluster, self, creates, leaving, cluster: deps.cluster.views, wake: (n) => deps.placement.wake(n) })
    : null;
  return {
    queries,
    operations,
    calls,
    reports: new ReportIngest({ repo, queues, transitions, messaging, groups, conversations, media, authState: deps.authState, log, listener: deps.listener }),
    runtimeSync: new RuntimeSync({ ...core, self, leaving }),
    handovers,
    placement: deps.placement,
    webhooks,
    proxies: deps.proxies,
    messaging,
    groups,
    conversations,
    media,
    mediaMaxBytes: deps.config.mediaMaxBytes,
    uploadDir: deps.mediaStore.uploadDir,
    requestTimeoutMs: deps.config.requestTimeoutMs,
  };
}

export { SessionError } from "./errors";
export type { CreateInput } from "./operations";
export type { StateChange, SessionListener } from "./transitions";
