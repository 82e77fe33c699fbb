// Reports from sandboxes: authenticated already, schema-checked at the channel, and still
// hostile. A report counts only from the session's current launch and in a state that allows
// it; anything else is logged and moves nothing.
import type { Report } from "../channel/frames";
import type { MediaInOutcome, ReportSink } from "../channel/report-sink";
import type { SessionRow } from "../db/schema";
import type { SessionRepository } from "../db/session-repository";
import type { Logger } from "../log";
import type { SessionQueues } from "./session-queue";
import { isLive } from "../model/session-states";
import type { MediaFiles } from "./media";
import type { Conversations } from "./conversation";
import type { Groups } from "./groups";
import type { Messaging } from "./messaging";
import type { SessionListener, Transitions } from "./transitions";
import type { AuthStateMirror } from "./auth-state";

export interface ReportDeps {
  repo: SessionRepository;
  queues: SessionQueues;
  transitions: Transitions;
  messaging: Messaging;
  groups: Groups;
  conversations: Conversations;
  media: MediaFiles;
  /** Where `auth` reports go; null when AUTH_STATE_MIRROR is off. */
  authState: AuthStateMirror | null;
  listener?: SessionListener;
  log: Logger;
}

/** Reports about the session's link itself, taken in any state its transition allows. */
const STATE_REPORTS = new Set<Report["type"]>(["qr", "connecting", "ready", "disconnected", "logged_out", "failed"]);

export class ReportIngest implements ReportSink {
  constructor(private readonly d: ReportDeps) {}

  /** Whether a sandbox holding a token of `launchId` may use the channel of this session. */
  async admits(sessionId: string, launchId: string): Promise<boolean> {
    return (await this.current(sessionId, launchId)) !== null;
  }

  /** The session, if `launchId` is its current launch (a stopped, replaced or moved sandbox's is not). */
  private async current(sessionId: string, launchId: string): Promise<SessionRow | null> {
    const row = await this.d.repo.byId(sessionId);
    return row && row.launchId !== null && row.launchId === launchId ? row : null;
  }

  /** The sandbox is back on the channel: messages that waited for it go, if the session is ready. */
  connected(sessionId: string): void {
    this.d.repo
      .byId(sessionId)
      .then((s) => (s?.state === "ready" ? this.flush(s) : undefined))
      .catch((err) => this.d.log.warn("pending messages not handed over", { sessionId, error: err }));
  }

  /** Stores one report in the session's queue; resolves once it is stored (or refused). */
  apply(sessionId: string, launchId: string, report: Report): Promise<void> {
    return this.d.queues.run(sessionId, async () => {
      const stored = await this.store(sessionId, launchId, report);
      this.d.listener?.reportApplied?.(report.type, stored);
    });
  }

  async mediaIn(sessionId: string, launchId: string, messageId: string, bytes: AsyncIterable<Uint8Array>): Promise<MediaInOutcome> {
    const session = await this.current(sessionId, launchId);
    if (!session) return "refused";
    return this.d.media.upload(session, messageId, bytes);
  }

  async mediaOut(sessionId: string, launchId: string, messageId: string) {
    const session = await this.current(sessionId, launchId);
    if (!session) return null;
    const file = await this.d.media.file(session, messageId).catch(() => null);
    if (!file?.message.fromMe) return null;
    return { bytes: this.d.media.read(file.media.sha256), size: file.size, mimetype: file.media.mimetype };
  }

  async authState(sessionId: string, launchId: string): Promise<[string, string][] | null> {
    const session = await this.current(sessionId, launchId);
    if (!session) return null;
    if (!this.d.authState) return [];
    const { entries, unreadable } = await this.d.authState.snapshot(sessionId);
    if (unreadable > 0) this.d.log.error("mirrored auth state does not open with this AUTH_STATE_KEY", { sessionId, unreadable });
    this.d.log.info("auth state restored to a sandbox", { sessionId, entries: entries.length });
    return entries;
  }

  /** Hands over the session's pending messages (it is ready, its sandbox connected). */
  private flush(session: SessionRow): void {
    this.d.messaging.flush(session).catch((err) => this.d.log.warn("pending messages not handed over", { sessionId: session.id, error: err }));
  }

  /** True when the report was stored, false when it was refused. */
  private async store(sessionId: string, launchId: string, report: Report): Promise<boolean> {
    const { repo, transitions, log } = this.d;
    const session = await this.current(sessionId, launchId);
    if (!session) {
      log.warn("report from a sandbox that is not the session's current one refused", { sessionId, type: report.type });
      return false;
    }
    // What happened in WhatsApp counts only from a session that is live (linked, or reconnecting).
    if (!STATE_REPORTS.has(report.type) && report.type !== "media_failed" && report.type !== "auth" && !isLive(session.state)) {
      log.warn("report refused in this state", { sessionId, type: report.type, state: session.state });
      return false;
    }
    switch (report.type) {
      case "auth":
        // Stored before the report is acknowledged: the sandbox reports a message only after the keys it used.
        if (!this.d.authState) return false;
        if (await this.d.authState.store(sessionId, report.entries)) return true;
        log.warn("auth-state report refused: the session's mirror would pass its limit", { sessionId, entries: report.entries.length });
        return false;
      case "qr":
        if (session.state === "qr_ready") await transitions.refreshQr(session, report.qr);
        else await transitions.moveTo(sessionId, "qr_ready", null, { qr: report.qr }, session);
        return true;
      case "connecting":
        await transitions.moveTo(sessionId, "connecting", null, {}, session);
        return true;
      case "ready": {
        const ready = await transitions.moveTo(sessionId, "ready", null, { phoneNumber: report.phoneNumber, pushName: report.pushName, qr: null }, session);
        // Messages queued while the session was away go now, outside this session's queue.
        if (ready) setTimeout(() => this.flush(ready), 0);
        return true;
      }
      case "disconnected":
      case "failed":
        await transitions.moveTo(sessionId, report.type, report.reason, {}, session);
        return true;
      case "logged_out":
        // The device is unlinked: what was synced goes with the change, and only if it is made.
        await transitions.moveTo(sessionId, "logged_out", report.reason, { phoneNumber: null, pushName: null, qr: null }, session, {
          clearSynced: true,
        });
        // The link is gone at WhatsApp: its keys must not bring a moved session back.
        await this.d.authState?.clear(sessionId);
        return true;
      case "message":
      case "message_status":
        if (report.type === "message") await this.d.messaging.received(session, report.message);
        else await this.d.messaging.statusReported(session, report.id, report.chatId, report.status);
        return true;
      case "media_failed":
        await this.d.media.failed(session, report.id, report.reason);
        return true;
      case "group":
      case "groups_synced":
      case "group_changes":
      case "group_participants":
      case "group_left":
      case "lid_mappings":
        await this.d.groups.reported(session, report);
        return true;
      case "reaction":
      case "edited":
      case "revoked":
      case "poll_vote":
      case "presence":
        await this.d.conversations.reported(session, report);
        return true;
      case "contacts":
      case "chats": {
        // The webhook carries what changed, written in the same transaction as the rows.
        if (report.type === "contacts") {
          await repo.upsertContacts(session, report.contacts, [{ event: "session.contacts", data: { count: report.contacts.length, contacts: report.contacts } }]);
        } else {
          await repo.upsertChats(session, report.chats, [{ event: "session.chats", data: { count: report.chats.length, chats: report.chats } }]);
        }
        transitions.synced(session, report.type, report.type === "contacts" ? report.contacts.length : report.chats.length);
        return true;
      }
    }
  }
}
