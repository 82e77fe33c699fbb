// Keeps Postgres and the runtime in line: events about containers that died or vanished,
// a reconcile pass at start and whenever the engine comes back, and sandboxes that outlived
// their channel token. Each change to a session runs in that session's queue.
import { randomUUID } from "node:crypto";
import type { SandboxLink } from "../channel/link";
import type { SessionRepository } from "../db/session-repository";
import type { Logger } from "../log";
import type { RuntimeEvent, SandboxLaunch, SessionRuntime } from "../runtime/types";
import type { SessionQueues } from "./session-queue";
import { isLive } from "../model/session-states";
import type { Transitions } from "./transitions";

/** What changes sessions and their containers: shared by user operations and runtime sync. */
export interface SessionCoreDeps {
  repo: SessionRepository;
  runtime: SessionRuntime;
  link: SandboxLink;
  queues: SessionQueues;
  transitions: Transitions;
  /** What a container of this launch is given (its channel token names the launch). */
  launch: (sessionId: string, launchId: string) => Promise<SandboxLaunch>;
  log: Logger;
}


export interface ReconcileResult {
  /** Containers of sessions this database does not know: left alone, with their volumes. */
  unknown: number;
  failed: number;
  stopped: number;
  /** Sessions whose container was running when the pass began. */
  running: Set<string>;
}

/** Starts a session's sandbox again as a new launch (recorded first, so it is admitted); its volume keeps the link. */
export async function relaunch(d: Pick<SessionCoreDeps, "repo" | "runtime" | "launch">, id: string): Promise<void> {
  const launchId = randomUUID();
  await d.repo.update(id, { launchId });
  await d.runtime.start(id, await d.launch(id, launchId));
}

/** A session this node runs: its own, or one from before nodes (no owner yet). */
export const ownedBy = (self: string) => (row: { node: string | null }) => row.node === null || row.node === self;

export class RuntimeSync {
  private readonly owns: (row: { node: string | null }) => boolean;

  constructor(private readonly d: SessionCoreDeps & { self: string; leaving?: ReadonlySet<string> }) {
    this.owns = ownedBy(d.self);
  }

  /** The engine said a container of ours died, vanished, or that its events resumed. */
  async onEvent(event: RuntimeEvent): Promise<void> {
    if (event.kind === "resumed") {
      await this.reconcile();
      return;
    }
    if (event.kind === "started") return;
    const { sessionId } = event;
    // Its sandbox stops because the session moves to another node (handovers.ts).
    if (this.d.leaving?.has(sessionId)) return;
    await this.d.queues.run(sessionId, async () => {
      const session = await this.d.repo.byId(sessionId);
      // Another node's session (moved off this one): its container here is not its sandbox.
      if (!session || !isLive(session.state) || !this.owns(session)) return;
      // The event may be about a container since replaced (start re-creates it) or restarted
      // by its restart policy: only a sandbox that is not running now is a failure.
      if (await this.d.runtime.isRunning(sessionId)) return;
      const reason =
        event.kind === "died" ? `sandbox container exited${event.exitCode !== undefined ? ` with code ${event.exitCode}` : ""}` : "sandbox container was removed";
      this.d.link.disconnect(sessionId);
      await this.d.transitions.moveTo(sessionId, "failed", reason, {}, session);
    });
  }

  /**
   * Live sessions without a running container are failed (a user or the restart policy revives
   * them); stopped sessions with a running container are stopped. Containers of sessions this
   * database does not know are left alone and logged: they may be another install's.
   */
  async reconcile(): Promise<ReconcileResult> {
    const { repo, runtime, queues, transitions, log } = this.d;
    const [all, sandboxes] = await Promise.all([repo.list(), runtime.list()]);
    const known = new Set(all.map((r) => r.id));
    // Other nodes' sessions are theirs to reconcile (their containers here were fenced: handovers.ts).
    const rows = all.filter(this.owns);
    const running = new Set(sandboxes.filter((b) => b.running).map((b) => b.sessionId));
    const result: ReconcileResult = { unknown: 0, failed: 0, stopped: 0, running };
    for (const box of sandboxes) {
      if (known.has(box.sessionId)) continue;
      result.unknown++;
      log.warn("container of a session this database does not know; left alone", { sessionId: box.sessionId });
    }
    for (const row of rows) {
      await queues.run(row.id, async (contended) => {
        const current = contended ? await repo.byId(row.id) : row;
        // A session handed here is launched by the handovers, not failed for having no container yet.
        if (!current || !this.owns(current) || current.handover !== null) return;
        // An operation that ran meanwhile may have changed the container: ask again then.
        const isRunning = contended ? await runtime.isRunning(row.id) : running.has(row.id);
        if (isRunning && (current.state === "stopped" || current.state === "logged_out")) {
          await runtime.stop(row.id);
          result.stopped++;
        } else if ((isLive(current.state) || current.state === "creating") && !isRunning) {
          await transitions.moveTo(row.id, "failed", "sandbox container is not running", {}, current);
          result.failed++;
        }
      });
    }
    if (result.unknown + result.failed + result.stopped > 0) {
      log.info("reconciled sessions with the runtime", { unknown: result.unknown, failed: result.failed, stopped: result.stopped });
    }
    return result;
  }

  /**
   * Sandboxes that run but have not reached the channel since the API started hold a token this
   * API no longer accepts (it expired while the API was down, or the signing key changed): they
   * are started again as a new launch. Their volume keeps the link, so no new QR is needed.
   */
  async restartSilentSandboxes(runningAtStart: ReadonlySet<string>): Promise<string[]> {
    const restarted: string[] = [];
    for (const box of await this.d.runtime.list()) {
      // Only sandboxes that predate this API: one created since has a valid token anyway.
      if (!runningAtStart.has(box.sessionId) || !box.running) continue;
      await this.d.queues.run(box.sessionId, async () => {
        if (this.d.link.isConnected(box.sessionId)) return;
        const row = await this.d.repo.byId(box.sessionId);
        if (!row || !isLive(row.state) || !this.owns(row)) return;
        this.d.log.warn("sandbox did not reach the channel; starting it again with a fresh token", { sessionId: row.id });
        await relaunch(this.d, row.id);
        restarted.push(row.id);
      });
    }
    return restarted;
  }
}
