// Reads: answered from Postgres, never from a container.
import type { SessionRow } from "../db/schema";
import type { SessionRepository } from "../db/session-repository";
import { sessionErrors } from "./errors";

const TOUCH_INTERVAL_MS = 1000;
/** How many state changes `GET /sessions/{id}/events` shows. */
const EVENTS_SHOWN = 100;

export class SessionQueries {
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly repo: SessionRepository,
    private readonly onTouched?: (session: SessionRow, at: Date) => void,
  ) {}

  list(): Promise<SessionRow[]> {
    return this.repo.list();
  }

  async get(id: string): Promise<SessionRow> {
    const row = await this.repo.byId(id);
    if (!row) throw sessionErrors.notFound(id);
    return row;
  }

  byKeyHash(keyHash: string): Promise<SessionRow | null> {
    return this.repo.byKeyHash(keyHash);
  }

  /** Records that the session was called; at most one write a second per session. */
  async touch(session: SessionRow): Promise<SessionRow> {
    const now = Date.now();
    if (now - (this.touched.get(session.id) ?? 0) < TOUCH_INTERVAL_MS) return session;
    this.touched.set(session.id, now);
    await this.repo.touch(session.id);
    const touched = { ...session, lastActivity: new Date(now) };
    this.onTouched?.(touched, touched.lastActivity);
    return touched;
  }

  forget(sessionId: string): void {
    this.touched.delete(sessionId);
  }

  qr(session: SessionRow): string {
    if (session.state !== "qr_ready" || !session.qr) throw sessionErrors.wrongState("get a QR code", session.state, ["qr_ready"]);
    return session.qr;
  }

  contacts(session: SessionRow) {
    return this.repo.contacts(session.id);
  }

  chats(session: SessionRow) {
    return this.repo.chats(session.id);
  }

  /** The session's last state changes with their reasons (why it failed, why it disconnected). */
  events(session: SessionRow) {
    return this.repo.events(session.id, EVENTS_SHOWN);
  }
}
