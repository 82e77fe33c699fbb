// The transition engine: every state write goes through here, is checked against the state
// machine, written with its event in one transaction, logged, and announced to listeners.
import type { SessionRow } from "../db/schema";
import type { SessionRepository, SessionFields } from "../db/session-repository";
import type { Logger } from "../log";
import { canTransition, type SessionState } from "./state-machine";

export interface StateChange {
  session: SessionRow;
  from: SessionState | null;
  to: SessionState;
  reason: string | null;
}

/** Who hears about what happened to sessions (webhooks, later metrics). */
export interface SessionListener {
  stateChanged?(change: StateChange): void;
  synced?(session: SessionRow, kind: "contacts" | "chats", count: number): void;
}

export class Transitions {
  constructor(
    private readonly repo: SessionRepository,
    private readonly log: Logger,
    private readonly listener: SessionListener = {},
  ) {}

  /**
   * Moves a session to `to` from the state it is in now, if the state machine allows it.
   * Returns the new row, or null when the move was refused (logged, not written).
   */
  async moveTo(
    id: string,
    to: SessionState,
    reason: string | null,
    extra: SessionFields = {},
    known?: SessionRow | null,
    opts: { clearSynced?: boolean } = {},
  ): Promise<SessionRow | null> {
    let current = known ?? (await this.repo.byId(id));
    for (let attempt = 0; current && attempt < 3; attempt++) {
      if (current.state === to) {
        if (opts.clearSynced) await this.repo.clearSynced(id);
        return this.repo.update(id, { ...extra, stateReason: reason });
      }
      if (!canTransition(current.state, to)) {
        this.log.warn("state change refused", { sessionId: id, from: current.state, to, reason });
        return null;
      }
      const moved = await this.repo.transition(id, current.state, to, reason, extra, opts);
      if (moved) {
        this.log.info("session state changed", { sessionId: id, from: current.state, to, reason });
        this.announce({ session: moved, from: current.state, to, reason });
        return moved;
      }
      current = await this.repo.byId(id); // another writer moved it first; decide again
    }
    return null;
  }

  /** Tells listeners; a listener's failure is logged and never reaches the caller. */
  announce(change: StateChange): void {
    this.safely(change.session.id, () => this.listener.stateChanged?.(change));
  }

  synced(session: SessionRow, kind: "contacts" | "chats", count: number): void {
    this.safely(session.id, () => this.listener.synced?.(session, kind, count));
  }

  private safely(sessionId: string, call: () => void): void {
    try {
      call();
    } catch (err) {
      this.log.error("session listener failed", { sessionId, error: String(err) });
    }
  }
}
