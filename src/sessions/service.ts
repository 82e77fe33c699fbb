// Session logic with no HTTP in it: what each call may do in each state, in which order the
// database, the runtime and the channel are touched, and how sandbox reports and runtime events
// move a session through the state machine.
import { randomUUID } from "node:crypto";
import { generateKey, hashKey } from "../auth/keys";
import type { SandboxLink } from "../channel/link";
import { SandboxTimeout, SandboxUnavailable } from "../channel/link";
import type { NumberCheck, Report } from "../channel/frames";
import type { Config } from "../config";
import type { SessionRow } from "../db/schema";
import { ApiError, errors } from "../http/errors";
import type { Logger } from "../log";
import { RuntimeError, type RuntimeEvent, type SandboxLaunch, type SessionRuntime } from "../runtime/types";
import { RateLimiter } from "./rate-limit";
import type { SessionRepository } from "../db/session-repository";
import { canTransition, isLive, type SessionState } from "./state-machine";

export interface CreateInput {
  name: string;
  webhookUrl?: string;
  metadata?: Record<string, unknown>;
}

export interface StateChange {
  session: SessionRow;
  from: SessionState | null;
  to: SessionState;
  reason: string | null;
}

export interface SessionServiceDeps {
  repo: SessionRepository;
  runtime: SessionRuntime;
  link: SandboxLink;
  launch: (sessionId: string) => Promise<SandboxLaunch>;
  config: Pick<Config, "maxSessions" | "checkNumberPerMinute" | "requestTimeoutMs">;
  log: Logger;
  /** Called after every stored state change (webhooks listen here). */
  onStateChange?: (change: StateChange) => void;
  /** Called after contacts or chats were stored. */
  onSync?: (session: SessionRow, kind: "contacts" | "chats", count: number) => void;
}

const TOUCH_INTERVAL_MS = 1000;
/** How many state changes `GET /sessions/{id}/events` shows. */
const EVENTS_SHOWN = 100;
const phonePattern = /^\+?\d{7,15}$/;

export class SessionService {
  private readonly checkLimiter: RateLimiter;
  /** Sessions under a user operation: runtime events about them are that operation's own. */
  private readonly busy = new Set<string>();
  /** Sessions being stopped, deleted or logged out: late reports of the old sandbox are dropped. */
  private readonly closing = new Set<string>();
  private readonly touched = new Map<string, number>();

  constructor(private readonly deps: SessionServiceDeps) {
    this.checkLimiter = new RateLimiter(deps.config.checkNumberPerMinute, 60_000);
  }

  private get log() {
    return this.deps.log;
  }

  async create(input: CreateInput): Promise<{ session: SessionRow; apiKey: string }> {
    const { repo, runtime } = this.deps;
    if ((await repo.count()) >= this.deps.config.maxSessions) {
      throw new ApiError(429, "SESSION_LIMIT_REACHED", `This server allows at most ${this.deps.config.maxSessions} sessions`);
    }
    // Refuse before anything is written, so a missing image or engine leaves no session behind.
    await this.checkRuntime();
    const apiKey = generateKey("session");
    const id = randomUUID();
    const row = await repo.insert({
      id,
      name: input.name,
      state: "creating",
      keyHash: hashKey(apiKey),
      webhookUrl: input.webhookUrl ?? null,
      metadata: input.metadata ?? null,
    });
    if (!row) throw new ApiError(409, "SESSION_NAME_TAKEN", `A session named "${input.name}" already exists`);
    this.emit({ session: row, from: null, to: "creating", reason: null });
    this.log.info("session created", { sessionId: id, name: input.name });
    // `starting` before the container exists, so the sandbox's first report finds it there.
    const starting = (await this.moveTo(id, "starting", null, {}, row)) ?? row;
    await this.exclusive(
      id,
      async () => {
        try {
          await runtime.create(id, await this.deps.launch(id));
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          await this.moveTo(id, "failed", `container could not be created: ${reason}`);
          this.log.error("session container create failed", { sessionId: id, error: reason });
          throw err;
        }
      },
      { keepReports: true },
    );
    return { session: starting, apiKey };
  }

  async list(): Promise<SessionRow[]> {
    return this.deps.repo.list();
  }

  async get(id: string): Promise<SessionRow> {
    const row = await this.deps.repo.byId(id);
    if (!row) throw errors.notFound(id);
    return row;
  }

  /** Records that the session was called; at most one write a second per session. */
  async touch(session: SessionRow): Promise<SessionRow> {
    const now = Date.now();
    const last = this.touched.get(session.id) ?? 0;
    if (now - last < TOUCH_INTERVAL_MS) return session;
    this.touched.set(session.id, now);
    await this.deps.repo.touch(session.id);
    return { ...session, lastActivity: new Date(now) };
  }

  qr(session: SessionRow): string {
    if (session.state !== "qr_ready" || !session.qr) throw errors.wrongState("get a QR code", session.state, ["qr_ready"]);
    return session.qr;
  }

  async start(id: string): Promise<void> {
    const session = await this.get(id);
    const allowed: SessionState[] = ["stopped", "failed", "logged_out"];
    if (!allowed.includes(session.state)) throw errors.wrongState("start the session", session.state, allowed);
    const moved = await this.deps.repo.transition(id, session.state, "starting", "started by request");
    if (!moved) throw errors.wrongState("start the session", (await this.get(id)).state, allowed);
    this.emit({ session: moved, from: session.state, to: "starting", reason: "started by request" });
    await this.checkRuntime().catch(async (err) => {
      await this.moveTo(id, "failed", err instanceof Error ? err.message : String(err));
      throw err;
    });
    await this.exclusive(
      id,
      async () => {
        try {
          await this.deps.runtime.start(id, await this.deps.launch(id));
        } catch (err) {
          await this.moveTo(id, "failed", `container could not be started: ${err instanceof Error ? err.message : String(err)}`);
          throw err;
        }
        this.log.info("session started", { sessionId: id });
      },
      { keepReports: true },
    );
  }

  async stop(id: string): Promise<void> {
    const session = await this.get(id);
    if (session.state === "stopped") return;
    if (session.state === "creating") throw errors.wrongState("stop the session", session.state, ["starting", "ready"]);
    await this.exclusive(id, async () => {
      // The state moves first: the container's death that follows is then expected, not a failure.
      await this.moveTo(id, "stopped", "stopped by request");
      this.deps.link.disconnect(id);
      await this.deps.runtime.stop(id);
      this.log.info("session stopped", { sessionId: id });
    });
  }

  async delete(id: string): Promise<void> {
    await this.get(id);
    await this.exclusive(id, async () => {
      this.deps.link.disconnect(id);
      // Container first: if the engine is down the row stays, so nothing is lost or orphaned.
      await this.deps.runtime.remove(id);
      await this.deps.repo.remove(id);
      this.checkLimiter.forget(id);
      this.touched.delete(id);
      this.log.info("session deleted", { sessionId: id });
    });
  }

  async logout(id: string): Promise<void> {
    const session = await this.get(id);
    const allowed: SessionState[] = ["ready", "connecting", "disconnected"];
    if (!allowed.includes(session.state)) throw errors.wrongState("log out", session.state, allowed);
    await this.exclusive(id, async () => {
      if (this.deps.link.isConnected(id)) {
        // Unlink at WhatsApp when we can; the local auth state is cleared below either way.
        await this.deps.link.request(id, { type: "logout" }, this.deps.config.requestTimeoutMs).catch((err) => {
          this.log.warn("sandbox logout did not complete", { sessionId: id, error: String(err) });
        });
      }
      this.deps.link.disconnect(id);
      await this.deps.runtime.stop(id);
      await this.deps.runtime.resetData(id);
      await this.deps.repo.clearSynced(id);
      await this.moveTo(id, "logged_out", "logged out by request", { phoneNumber: null, pushName: null, qr: null });
      this.log.info("session logged out", { sessionId: id });
    });
  }

  async checkNumber(session: SessionRow, phone: string): Promise<NumberCheck> {
    const digits = phoneDigits("phone", phone);
    if (session.state !== "ready") throw errors.wrongState("check a number", session.state, ["ready"]);
    if (!this.checkLimiter.take(session.id)) {
      throw new ApiError(429, "RATE_LIMITED", `At most ${this.deps.config.checkNumberPerMinute} number checks a minute per session`);
    }
    const res = await this.ask(session.id, { type: "check-number", phones: [digits] });
    return res.results[0] ?? { phone: digits, exists: false, jid: null };
  }

  async pairingCode(session: SessionRow, phoneNumber: string): Promise<string> {
    const digits = phoneDigits("phoneNumber", phoneNumber);
    if (session.state !== "qr_ready") throw errors.wrongState("request a pairing code", session.state, ["qr_ready"]);
    const res = await this.ask(session.id, { type: "pairing-code", phoneNumber: digits });
    return res.code;
  }

  contacts(id: string) {
    return this.deps.repo.contacts(id);
  }

  chats(id: string) {
    return this.deps.repo.chats(id);
  }

  /** The session's last state changes with their reasons (why it failed, why it disconnected). */
  events(id: string) {
    return this.deps.repo.events(id, EVENTS_SHOWN);
  }

  /** A report from a sandbox, already authenticated as coming from this session's sandbox. */
  async applyReport(sessionId: string, report: Report): Promise<void> {
    if (this.closing.has(sessionId)) return;
    const session = await this.deps.repo.byId(sessionId);
    if (!session) return;
    const { repo } = this.deps;
    switch (report.type) {
      case "qr":
        if (session.state === "qr_ready") await repo.update(sessionId, { qr: report.qr, qrUpdatedAt: new Date() });
        else await this.moveTo(sessionId, "qr_ready", null, { qr: report.qr }, session);
        return;
      case "connecting":
        await this.moveTo(sessionId, "connecting", null, {}, session);
        return;
      case "ready":
        await this.moveTo(sessionId, "ready", null, { phoneNumber: report.phoneNumber, pushName: report.pushName, qr: null }, session);
        return;
      case "disconnected":
        await this.moveTo(sessionId, "disconnected", report.reason, {}, session);
        return;
      case "failed":
        await this.moveTo(sessionId, "failed", report.reason, {}, session);
        return;
      case "logged_out":
        // The device is unlinked; what was synced belongs to an account we no longer reach.
        await repo.clearSynced(sessionId);
        await this.moveTo(sessionId, "logged_out", report.reason, { phoneNumber: null, pushName: null, qr: null }, session);
        return;
      case "contacts":
        await repo.upsertContacts(sessionId, report.contacts);
        this.deps.onSync?.(session, "contacts", report.contacts.length);
        return;
      case "chats":
        await repo.upsertChats(sessionId, report.chats);
        this.deps.onSync?.(session, "chats", report.chats.length);
        return;
    }
  }

  /** The engine said a container of ours died or vanished: a live session must not look live. */
  async onRuntimeEvent(event: RuntimeEvent): Promise<void> {
    if (event.kind === "started" || this.busy.has(event.sessionId)) return;
    const session = await this.deps.repo.byId(event.sessionId);
    if (!session || !isLive(session.state)) return;
    // The event may be about a container that was since replaced (start re-creates it) or
    // restarted by its restart policy: only a sandbox that is not running now is a failure.
    if (await this.deps.runtime.isRunning(event.sessionId)) return;
    const reason =
      event.kind === "died" ? `sandbox container exited${event.exitCode !== undefined ? ` with code ${event.exitCode}` : ""}` : "sandbox container was removed";
    this.deps.link.disconnect(event.sessionId);
    await this.moveTo(event.sessionId, "failed", reason, {}, session);
  }

  /**
   * Brings Postgres and the engine in line: containers without a session are removed, live
   * sessions without a running container are failed (a user or the restart policy revives them),
   * stopped sessions with a running container are stopped. Running sandboxes are left alone.
   */
  async reconcile(): Promise<{ removed: number; failed: number; stopped: number }> {
    const [rows, sandboxes] = await Promise.all([this.deps.repo.list(), this.deps.runtime.list()]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const result = { removed: 0, failed: 0, stopped: 0 };
    for (const box of sandboxes) {
      const row = byId.get(box.sessionId);
      if (!row) {
        await this.deps.runtime.remove(box.sessionId);
        result.removed++;
        this.log.warn("removed container without a session", { sessionId: box.sessionId });
      } else if (box.running && (row.state === "stopped" || row.state === "logged_out")) {
        await this.deps.runtime.stop(box.sessionId);
        result.stopped++;
      }
    }
    const running = new Set(sandboxes.filter((b) => b.running).map((b) => b.sessionId));
    for (const row of rows) {
      if ((isLive(row.state) || row.state === "creating") && !running.has(row.id)) {
        await this.moveTo(row.id, "failed", "sandbox container is not running", {}, row);
        result.failed++;
      }
    }
    if (result.removed + result.failed + result.stopped > 0) this.log.info("reconciled sessions with the runtime", result);
    return result;
  }

  /**
   * Sandboxes that run but have not reached the channel since the API started hold a token this
   * API no longer accepts (it expired while the API was down, or the signing key changed): they
   * are started again with a fresh token. Their volume keeps the link, so no new QR is needed.
   */
  async restartSilentSandboxes(runningAtStart: ReadonlySet<string>): Promise<string[]> {
    const restarted: string[] = [];
    for (const box of await this.deps.runtime.list()) {
      // Only sandboxes that predate this API: one created since has a valid token anyway.
      if (!runningAtStart.has(box.sessionId)) continue;
      if (!box.running || this.deps.link.isConnected(box.sessionId) || this.busy.has(box.sessionId)) continue;
      const row = await this.deps.repo.byId(box.sessionId);
      if (!row || !isLive(row.state)) continue;
      this.log.warn("sandbox did not reach the channel; starting it again with a fresh token", { sessionId: row.id });
      await this.exclusive(row.id, async () => this.deps.runtime.start(row.id, await this.deps.launch(row.id)), { keepReports: true });
      restarted.push(row.id);
    }
    return restarted;
  }

  private async ask<R extends Parameters<SandboxLink["request"]>[1]>(sessionId: string, req: R) {
    try {
      return await this.deps.link.request(sessionId, req, this.deps.config.requestTimeoutMs);
    } catch (err) {
      if (err instanceof SandboxTimeout) {
        throw new ApiError(504, "SANDBOX_TIMEOUT", `The session's sandbox did not answer within ${this.deps.config.requestTimeoutMs} ms`);
      }
      if (err instanceof SandboxUnavailable) {
        throw new ApiError(503, "SANDBOX_UNAVAILABLE", "The session's sandbox is not connected to the API right now; try again shortly");
      }
      if (err instanceof ApiError) throw err;
      throw new ApiError(502, "SANDBOX_ERROR", err instanceof Error ? err.message : String(err));
    }
  }

  /**
   * Runs a user operation with runtime events for the session held off (and, unless the
   * operation brings a new sandbox up, its reports too); engine errors become 503s.
   */
  private async exclusive(id: string, work: () => Promise<void>, opts: { keepReports?: boolean } = {}): Promise<void> {
    this.busy.add(id);
    if (!opts.keepReports) this.closing.add(id);
    try {
      await work();
    } catch (err) {
      throw runtimeApiError(err, { sessionId: id });
    } finally {
      this.busy.delete(id);
      this.closing.delete(id);
    }
  }

  private async checkRuntime(): Promise<void> {
    try {
      await this.deps.runtime.check();
    } catch (err) {
      throw runtimeApiError(err);
    }
  }

  /**
   * Moves a session to `to` from whatever state it is in now, if the state machine allows it.
   * Returns the new row, or null when the move was refused (the refusal is logged, not written).
   */
  private async moveTo(
    id: string,
    to: SessionState,
    reason: string | null,
    extra: Partial<Pick<SessionRow, "phoneNumber" | "pushName" | "qr">> = {},
    known?: SessionRow,
  ): Promise<SessionRow | null> {
    let current = known ?? (await this.deps.repo.byId(id));
    for (let attempt = 0; current && attempt < 3; attempt++) {
      if (current.state === to) return this.deps.repo.update(id, { ...extra, stateReason: reason });
      if (!canTransition(current.state, to)) {
        this.log.warn("state change refused", { sessionId: id, from: current.state, to, reason });
        return null;
      }
      const moved = await this.deps.repo.transition(id, current.state, to, reason, extra);
      if (moved) {
        this.log.info("session state changed", { sessionId: id, from: current.state, to, reason });
        this.emit({ session: moved, from: current.state, to, reason });
        return moved;
      }
      current = await this.deps.repo.byId(id); // someone else moved it first; decide again
    }
    return null;
  }

  private emit(change: StateChange): void {
    try {
      this.deps.onStateChange?.(change);
    } catch (err) {
      this.log.error("state change listener failed", { sessionId: change.session.id, error: String(err) });
    }
  }
}

/** The digits of a phone number with country code (7 to 15, an optional leading +), or a 400. */
function phoneDigits(field: string, value: string): string {
  if (!phonePattern.test(value)) {
    throw new ApiError(400, "INVALID_PHONE_NUMBER", `${field} must be 7 to 15 digits with country code, optionally after a +`, { field });
  }
  return value.replace(/^\+/, "");
}

function runtimeApiError(err: unknown, extra: Record<string, unknown> = {}): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof RuntimeError) {
    const message =
      err.code === "SANDBOX_IMAGE_MISSING"
        ? `${err.message}. Build it with: bun run sandbox:build`
        : err.message;
    return new ApiError(503, err.code, message, extra);
  }
  return new ApiError(503, "RUNTIME_FAILED", err instanceof Error ? err.message : String(err), extra);
}
