// The transition engine: every state write goes through here, is checked against the state
// machine, written with its event in one transaction, logged, and announced to listeners.
import type { SessionRow } from "../db/schema";
import type { OutboxEvent } from "../db/outbox";
import type { SessionRepository, SessionFields } from "../db/session-repository";
import type { Logger } from "../log";
import { canTransition, type SessionState } from "../model/session-states";

export interface StateChange {
  session: SessionRow;
  from: SessionState | null;
  to: SessionState;
  reason: string | null;
}

/** Who hears, after the commit, about what happened to sessions (metrics; the outbox's dispatcher). */
export interface SessionListener {
  stateChanged?(change: StateChange): void;
  synced?(session: SessionRow, kind: "contacts" | "chats", count: number): void;
  /** A new QR while the session stays qr_ready (the first one comes with the state change). */
  qrRefreshed?(session: SessionRow, qr: string): void;
  /** A key's call recorded as the session's last activity (at most once a second). */
  touched?(session: SessionRow, at: Date): void;
  /** The session and its rows are gone. */
  deleted?(sessionId: string): void;
  /** Something was committed that may have put events in the webhook outbox. */
  written?(sessionId: string): void;
  /** A sandbox report was stored (true) or refused (false). */
  reportApplied?(type: string, stored: boolean): void;
}

/** The webhook events of a state change, written with it. */
export function stateEvents(row: SessionRow, from: SessionState | null, to: SessionState, reason: string | null): OutboxEvent[] {
  const events: OutboxEvent[] = [{ event: "session.state", data: { state: to, previousState: from, reason, phoneNumber: row.phoneNumber } }];
  if (to === "qr_ready" && row.qr) events.push({ event: "session.qr", data: { qr: row.qr } });
  return events;
}

/** A reason's kind: its words before any detail in brackets ("proxy unreachable (timed out)" → "proxy unreachable"). */
function kindOf(reason: string | null): string | null {
  return reason === null ? null : reason.replace(/\s*\(.*$/, "");
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
        // A disconnected session's reason that changes in kind (the connection dropped, then the
        // proxy turned out to be down) is recorded as a change of its own, so the events say it too;
        // the same kind again (each failed attempt) only updates the status.
        if (to === "disconnected" && reason !== null && kindOf(reason) !== kindOf(current.stateReason)) {
          const moved = await this.repo.transition(id, to, to, reason, extra, { ...opts, events: (row) => stateEvents(row, to, to, reason) });
          if (moved) {
            this.announce({ session: moved, from: to, to, reason });
            return moved;
          }
          current = await this.repo.byId(id);
          continue;
        }
        return this.repo.update(id, { ...extra, stateReason: reason });
      }
      const from: SessionState = current.state;
      if (!canTransition(current.state, to)) {
        this.log.warn("state change refused", { sessionId: id, from: current.state, to, reason });
        return null;
      }
      const moved = await this.repo.transition(id, from, to, reason, extra, { ...opts, events: (row) => stateEvents(row, from, to, reason) });
      if (moved) {
        this.log.info("session state changed", { sessionId: id, from, to, reason });
        this.announce({ session: moved, from, to, reason });
        return moved;
      }
      current = await this.repo.byId(id); // another writer moved it first; decide again
    }
    return null;
  }

  /** A new QR while the state stays `qr_ready`: stored with its webhook event. */
  async refreshQr(session: SessionRow, qr: string): Promise<void> {
    await this.repo.update(session.id, { qr, qrUpdatedAt: new Date() }, [{ event: "session.qr", data: { qr } }]);
    this.safely(session.id, () => {
      this.listener.qrRefreshed?.(session, qr);
      this.listener.written?.(session.id);
    });
  }

  /** Tells listeners of a committed change; a listener's failure is logged and never reaches the caller. */
  announce(change: StateChange): void {
    this.safely(change.session.id, () => {
      this.listener.stateChanged?.(change);
      this.listener.written?.(change.session.id);
    });
  }

  synced(session: SessionRow, kind: "contacts" | "chats", count: number): void {
    this.safely(session.id, () => {
      this.listener.synced?.(session, kind, count);
      this.listener.written?.(session.id);
    });
  }

  private safely(sessionId: string, call: () => void): void {
    try {
      call();
    } catch (err) {
      this.log.error("session listener failed", { sessionId, error: err });
    }
  }
}
