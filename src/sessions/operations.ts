// What users do to a session: create, start, stop, delete, log out. Each runs in the session's
// queue, so overlapping calls on one session take turns, and the state moves only once the
// runtime did what the state says.
import { randomUUID } from "node:crypto";
import { proxyUrl, type ProxyRoute } from "../egress/proxy-url";
import { generateKey, hashKey } from "../auth/keys";
import type { SessionRow } from "../db/schema";
import { SessionError, sessionErrors } from "./errors";
import { runtimeFailure } from "./runtime-errors";
import { sessionStates, type SessionState } from "../model/session-states";
import type { Limiter } from "../limits";
import type { SessionCoreDeps } from "./runtime-sync";
import { stateEvents } from "./transitions";
import type { MediaFiles } from "./media";
import type { WebhookSettings } from "./webhook-settings";
import type { SessionProxies } from "./proxies";
import type { Placement } from "./placement";
import type { AuthStateMirror } from "./auth-state";
import { isLive } from "../model/session-states";

/** What a session is created from (the create route's body, checked there). */
export interface CreateInput {
  name: string;
  webhookUrl?: string;
  metadata?: Record<string, unknown>;
  /** A proxy URL, or null (or absent) for none. */
  proxy?: string | null;
}

export interface OperationDeps extends SessionCoreDeps {
  webhooks: WebhookSettings;
  proxies: SessionProxies;
  /** Which node this is, and where new sessions go. */
  placement: Placement;
  /** The mirrored auth state: cleared with the link at logout. */
  authState: AuthStateMirror | null;
  /** Where new sessions' containers wait for their turn. */
  creates: Limiter;
  media: MediaFiles;
  /** Called when a session is gone, so per-session memory elsewhere can be dropped. */
  onDeleted?: (sessionId: string) => void;
}

const startable: SessionState[] = ["stopped", "failed", "logged_out"];
/** Every state but `creating` (no container yet to stop). */
const stoppable: SessionState[] = sessionStates.filter((s) => s !== "creating");
const loggedIn: SessionState[] = ["ready", "connecting", "disconnected"];

/** How long a passed runtime check stands for the next create or start. */
const RUNTIME_CHECK_TRUST_MS = 2000;

const sessionLimit = () => new SessionError("SESSION_LIMIT_REACHED", "Every node runs as many sessions as it may (NODE_CAPACITY, MAX_SESSIONS)");

export class SessionOperations {
  private runtimeCheck: Promise<void> | null = null;
  private runtimeCheckedAt = 0;

  constructor(private readonly d: OperationDeps) {}

  /**
   * Answers once the session is `starting`; `container` settles once its container was made or
   * the session failed (it never rejects): the route does not wait for it, tests may.
   */
  async create(input: CreateInput): Promise<{ session: SessionRow; apiKey: string; webhookSecret: string; container: Promise<void> }> {
    const { repo, queues, transitions, log, placement } = this.d;
    // Early, before the runtime is asked; the insert checks again under a lock.
    const target = await placement.place();
    if (!target) throw sessionLimit();
    const local = target.node === placement.self;
    const webhookUrl = input.webhookUrl === undefined ? null : await this.d.webhooks.checkUrl(input.webhookUrl);
    const proxy = this.d.proxies.check(input.proxy ?? null);
    // Refuse before anything is written, so a missing image or engine leaves no session behind.
    if (local) await this.checkRuntime();
    const id = randomUUID();
    const apiKey = generateKey("session");
    const webhook = this.d.webhooks.newSecret(id);
    // The queue is taken before the row exists: nothing can act on the session half-made.
    return queues.run(id, async () => {
      // Another node's session is launched there (it finds the handover); this one's now.
      const launchId = local ? randomUUID() : null;
      const row = await repo.insert(
        {
          id,
          name: input.name,
          state: "creating",
          keyHash: hashKey(apiKey),
          launchId,
          webhookUrl,
          webhookSecretSalt: webhook.salt,
          metadata: input.metadata ?? null,
          node: target.node,
          handover: local ? null : `created on node ${placement.self}`,
          ...this.d.proxies.fields(id, proxy),
        },
        (created) => stateEvents(created, null, "creating", null),
        target.capacity,
      );
      if (row === "full") throw sessionLimit();
      if (!row) throw new SessionError("SESSION_NAME_TAKEN", `A session named "${input.name}" already exists`);
      transitions.announce({ session: row, from: null, to: "creating", reason: null });
      log.info("session created", { sessionId: id, name: input.name, node: target.node });
      // `starting` before the container exists: the sandbox's first report follows it.
      const starting = (await transitions.moveTo(id, "starting", null, {}, row)) ?? row;
      if (!local) {
        placement.wake(target.node);
        return { session: starting, apiKey, webhookSecret: webhook.secret, container: Promise.resolve() };
      }
      // The container is made behind this call, next in the session's queue (an operation asked
      // for meanwhile waits for it) and in turn with other new sessions' containers.
      const container = queues
        .run(id, () => this.d.creates.run(() => this.makeContainer(id, launchId!)))
        .catch((err) => log.error("the sandbox of a new session was not made", { sessionId: id, error: err }));
      return { session: starting, apiKey, webhookSecret: webhook.secret, container };
    });
  }

  /** A new session's container; if Podman refuses, the session fails and says why. */
  private async makeContainer(id: string, launchId: string): Promise<void> {
    const current = await this.d.repo.byId(id);
    // Deleted, or moved on by a user or a report, while it waited for its turn.
    if (!current || current.state !== "starting" || current.launchId !== launchId) return;
    try {
      await this.d.runtime.create(id, await this.d.launch(id, launchId));
    } catch (err) {
      const failure = runtimeFailure(err, this.d.log, "create the sandbox", id);
      await this.d.transitions.moveTo(id, "failed", `container could not be created (${failure.code})`, { launchId: null }).catch((e) =>
        this.d.log.error("could not record a failed create", { sessionId: id, error: e }),
      );
    }
  }

  start(session: SessionRow): Promise<void> {
    return this.d.queues.run(session.id, async (contended) => {
      const current = contended ? await this.reload(session.id) : session;
      this.own(current, "start the session");
      if (!startable.includes(current.state)) throw sessionErrors.wrongState("start the session", current.state, startable);
      await this.checkRuntime();
      const launchId = await this.launch(current, "start the sandbox");
      await this.d.transitions.moveTo(current.id, "starting", "started by request", {}, { ...current, launchId });
      this.d.log.info("session started", { sessionId: current.id });
    });
  }

  /**
   * Starts (or starts again) the session's container as a new launch, recorded before the
   * container runs so its sandbox is admitted at once. If the engine refuses, the session keeps
   * the launch it had (a sandbox still running keeps its reports admitted).
   */
  private async launch(current: SessionRow, what: string): Promise<string> {
    const launchId = randomUUID();
    // A session from before nodes that no node claimed (it had no container) is this node's once it runs here.
    await this.d.repo.update(current.id, { launchId, ...(current.node === null ? { node: this.d.placement.self } : {}) });
    try {
      await this.d.runtime.start(current.id, await this.d.launch(current.id, launchId));
    } catch (err) {
      await this.d.repo.update(current.id, { launchId: current.launchId });
      throw runtimeFailure(err, this.d.log, what, current.id);
    }
    return launchId;
  }

  /**
   * A new proxy (or none): stored, told to the egress gateway (which closes what went through the
   * old one), and a running sandbox started again with it; its volume keeps the link, so no new QR.
   * `proxy` was checked by the caller (SessionProxies.check) before anything else was written.
   */
  setProxy(session: SessionRow, proxy: ProxyRoute | null): Promise<SessionRow> {
    return this.d.queues.run(session.id, async () => {
      const current = await this.reload(session.id);
      this.own(current, "change the proxy");
      // The same route again changes nothing (no restart).
      if (this.d.proxies.urlOf(current) === (proxy ? proxyUrl(proxy) : null)) return current;
      const updated = (await this.d.repo.updateSettings(current.id, this.d.proxies.fields(current.id, proxy))) ?? current;
      // A running sandbox's launch tells the gateway its route (container-env.ts); else it is told here.
      if (!isLive(updated.state)) await this.d.proxies.push(updated);
      else {
        await this.launch(updated, "restart the sandbox with its new proxy");
        this.d.log.info("sandbox restarted with a new proxy", { sessionId: updated.id, via: proxy?.scheme ?? "direct" });
      }
      return (await this.d.repo.byId(updated.id)) ?? updated;
    });
  }

  stop(session: SessionRow): Promise<void> {
    return this.d.queues.run(session.id, async (contended) => {
      const current = contended ? await this.reload(session.id) : session;
      this.own(current, "stop the session");
      if (current.state === "creating") throw sessionErrors.wrongState("stop the session", current.state, stoppable);
      this.d.link.disconnect(current.id);
      // Even a session that says `stopped` gets its container stopped: the answer is the truth.
      await this.d.runtime.stop(current.id).catch((err) => {
        throw runtimeFailure(err, this.d.log, "stop the sandbox", current.id);
      });
      if (current.state !== "stopped") {
        await this.d.transitions.moveTo(current.id, "stopped", "stopped by request", { launchId: null }, current);
        this.d.log.info("session stopped", { sessionId: current.id });
      }
    });
  }

  delete(session: SessionRow): Promise<void> {
    return this.d.queues.run(session.id, async (contended) => {
      this.own(contended ? await this.reload(session.id) : session, "delete the session");
      this.d.link.disconnect(session.id);
      // Container first: if the engine is down the row stays, so nothing is orphaned.
      await this.d.runtime.remove(session.id).catch((err) => {
        throw runtimeFailure(err, this.d.log, "remove the sandbox", session.id);
      });
      // Its files go with its messages (a file another session's message carries stays).
      const files = await this.d.media.filesOf(session.id);
      await this.d.repo.remove(session.id);
      await this.d.media.removeUnused(files);
      await this.d.proxies.drop(session.id);
      this.d.onDeleted?.(session.id);
      this.d.log.info("session deleted", { sessionId: session.id });
    });
  }

  logout(session: SessionRow, requestTimeoutMs: number): Promise<void> {
    return this.d.queues.run(session.id, async (contended) => {
      const current = contended ? await this.reload(session.id) : session;
      this.own(current, "log out");
      if (!loggedIn.includes(current.state)) throw sessionErrors.wrongState("log out", current.state, loggedIn);
      const { link, runtime, log } = this.d;
      if (link.isConnected(current.id)) {
        // Unlink at WhatsApp when we can; the local auth state is cleared below either way.
        await link.request(current.id, { type: "logout" }, requestTimeoutMs).catch((err) => {
          log.warn("sandbox logout did not complete", { sessionId: current.id, error: err });
        });
      }
      link.disconnect(current.id);
      try {
        await runtime.stop(current.id);
        await runtime.resetData(current.id);
      } catch (err) {
        throw runtimeFailure(err, log, "log the sandbox out", current.id);
      }
      await this.d.authState?.clear(current.id);
      await this.d.transitions.moveTo(
        current.id,
        "logged_out",
        "logged out by request",
        { phoneNumber: null, pushName: null, qr: null, launchId: null },
        current,
        { clearSynced: true },
      );
      log.info("session logged out", { sessionId: current.id });
    });
  }

  /**
   * Only the owner acts on a session's container. A call reaches another node's session here when
   * that node did not take it (dead, or not reachable): the session moves soon, or the node comes back.
   */
  private own(current: SessionRow, what: string): void {
    if (current.node === null || current.node === this.d.placement.self) return;
    throw sessionErrors.onOtherNode(current.node, `which does not answer: cannot ${what} now`);
  }

  private async reload(id: string): Promise<SessionRow> {
    const row = await this.d.repo.byId(id);
    if (!row) throw sessionErrors.notFound(id);
    return row;
  }

  /**
   * A burst of creates and starts asks Podman once, not once each (two more calls per create
   * while Podman is busy making containers): one check in flight is shared, and a passed one is
   * trusted for a moment. What Podman refuses later still fails the session with its reason.
   */
  private async checkRuntime(): Promise<void> {
    if (Date.now() - this.runtimeCheckedAt < RUNTIME_CHECK_TRUST_MS) return;
    this.runtimeCheck ??= this.d.runtime.check().finally(() => (this.runtimeCheck = null));
    try {
      await this.runtimeCheck;
      this.runtimeCheckedAt = Date.now();
    } catch (err) {
      throw runtimeFailure(err, this.d.log, "be used");
    }
  }
}
