// Live session events for the API's own subscribers (the event stream at GET /events, which the
// dashboard reads): what the transition engine announces after each commit, fanned out in
// process. Nothing is kept here: a subscriber sees what happens while it listens, and the
// history of state changes stays in the database (GET /sessions/{id}/events).
//
// Event names and `data` follow the webhooks (session.state, session.qr, session.contacts,
// session.chats); session.activity and session.deleted are the stream's own.
import type { SessionRow } from "../db/schema";
import { stateEvents, type SessionListener, type StateChange } from "./transitions";

export type SessionEventName = "session.state" | "session.qr" | "session.contacts" | "session.chats" | "session.activity" | "session.deleted";

export interface SessionEvent {
  event: SessionEventName;
  sessionId: string;
  /** null only for session.deleted, when the name is no longer known. */
  sessionName: string | null;
  timestamp: string;
  data: Record<string, unknown>;
}

export type EventSink = (event: SessionEvent) => void;

interface Subscriber {
  /** null: every session (the admin); else the one session a session key reaches. */
  sessionId: string | null;
  sink: EventSink;
}

export class SessionEventBus {
  private readonly subscribers = new Set<Subscriber>();

  /** Hears every session's events (sessionId null) or one session's; answers the unsubscribe. */
  subscribe(sessionId: string | null, sink: EventSink): () => void {
    const sub: Subscriber = { sessionId, sink };
    this.subscribers.add(sub);
    return () => this.subscribers.delete(sub);
  }

  /** Where this node's events also go (the other nodes, through PostgreSQL: nodes/event-relay.ts). */
  relay: ((event: SessionEvent) => void) | null = null;

  publish(event: SessionEvent): void {
    this.deliver(event);
    this.relay?.(event);
  }

  /** An event another node published: to this node's subscribers only. */
  deliver(event: SessionEvent): void {
    for (const sub of [...this.subscribers]) {
      if (sub.sessionId !== null && sub.sessionId !== event.sessionId) continue;
      // One subscriber's failure must not keep the event from the others.
      try {
        sub.sink(event);
      } catch {
        this.subscribers.delete(sub);
      }
    }
  }

  /** The listener the domain calls (wired in api.ts beside metrics and the webhook dispatcher). */
  readonly listener: Required<Pick<SessionListener, "stateChanged" | "synced" | "qrRefreshed" | "touched" | "deleted">> = {
    stateChanged: ({ session, from, to, reason }: StateChange) => {
      // The webhooks' own events for the change (session.state, and session.qr on qr_ready).
      for (const e of stateEvents(session, from, to, reason)) {
        const data = e.event === "session.state" ? { ...e.data, lastActivity: session.lastActivity.toISOString() } : e.data;
        this.publish(event(e.event as SessionEventName, session, data));
      }
    },
    qrRefreshed: (session: SessionRow, qr: string) => this.publish(event("session.qr", session, { qr })),
    synced: (session: SessionRow, kind: "contacts" | "chats", count: number) =>
      this.publish(event(kind === "contacts" ? "session.contacts" : "session.chats", session, { count })),
    touched: (session: SessionRow, at: Date) => this.publish(event("session.activity", session, { lastActivity: at.toISOString() })),
    deleted: (sessionId: string) =>
      this.publish({ event: "session.deleted", sessionId, sessionName: null, timestamp: new Date().toISOString(), data: {} }),
  };
}

function event(name: SessionEventName, session: SessionRow, data: Record<string, unknown>): SessionEvent {
  return { event: name, sessionId: session.id, sessionName: session.name, timestamp: new Date().toISOString(), data };
}
