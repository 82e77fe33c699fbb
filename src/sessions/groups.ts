// Groups: reads from PostgreSQL (kept current by the sandbox's reports: a sync at each connect,
// then WhatsApp's notifications), changes through the session's sandbox, whose answer is stored
// before the call answers. Who may do what is judged on the stored group first, so a refusal
// costs WhatsApp nothing; WhatsApp's own refusal is mapped to the same errors.
import type { GroupReport, Report, SandboxRequest } from "../channel/frames";
import type { SandboxLink } from "../channel/link";
import type { GroupRepository, GroupSummaryRow } from "../db/group-repository";
import type { SessionRow } from "../db/schema";
import type { OutboxEvent } from "../db/outbox";
import { isGroupId, phoneOfJid, type GroupChanges, type GroupParticipant, type ParticipantAction } from "../model/groups";
import type { Logger } from "../log";
import { SessionError, sessionErrors } from "./errors";
import { askSandbox } from "./sandbox-calls";
import { chatJid } from "./messaging";

export interface GroupsDeps {
  groups: GroupRepository;
  link: SandboxLink;
  requestTimeoutMs: number;
  channelWaitMs: number;
  log: Logger;
  /** A change was stored with webhook events. */
  onWritten?: (sessionId: string) => void;
}

export type GroupReportOf<T extends Report["type"]> = Extract<Report, { type: T }>;
type GroupReports = GroupReportOf<"group" | "groups_synced" | "group_changes" | "group_participants" | "group_left" | "lid_mappings">;

export const INVITE_URL = "https://chat.whatsapp.com/";

/** A group's summary as the API answers it. */
export function groupView(g: GroupSummaryRow) {
  return {
    id: g.id,
    subject: g.subject,
    description: g.description,
    owner: g.owner,
    createdAt: g.createdAt ? g.createdAt.toISOString() : null,
    size: g.size,
    announce: g.announce,
    locked: g.locked,
    isAdmin: g.isAdmin,
  };
}

/** Members as a client may name them (phone numbers or user jids), as jids for WhatsApp. */
function memberJids(list: string[], field: string): string[] {
  const jids = list.map((p, i) => {
    const jid = chatJid(p, `${field}[${i}]`);
    if (jid.endsWith("@g.us")) throw sessionErrors.invalidField(`${field}[${i}]`, "a group cannot be a member");
    return jid;
  });
  if (new Set(jids).size !== jids.length) throw sessionErrors.invalidField(field, "names a member twice");
  return jids;
}

/** The code of an invite, given as the code or as the whole link. */
export function inviteCode(value: string): string {
  const code = value.startsWith(INVITE_URL) ? value.slice(INVITE_URL.length) : value.startsWith("chat.whatsapp.com/") ? value.slice(18) : value;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(code)) throw sessionErrors.invalidField("code", `an invite code or ${INVITE_URL}<code>`);
  return code;
}

export class Groups {
  constructor(private readonly d: GroupsDeps) {}

  list(session: SessionRow): Promise<GroupSummaryRow[]> {
    ready(session, "list groups");
    return this.d.groups.list(session.id);
  }

  /** The group with its members as stored JSON (handed on unparsed), and its version. */
  async get(session: SessionRow, groupId: string) {
    checkId(groupId);
    ready(session, "read a group");
    const g = await this.d.groups.byIdRaw(session.id, groupId);
    if (!g) throw sessionErrors.groupNotFound(groupId);
    return g;
  }

  /** The stored group's version (its last write's time), without its members. */
  async version(session: SessionRow, groupId: string): Promise<string> {
    checkId(groupId);
    ready(session, "read a group");
    const v = await this.d.groups.versionOf(session.id, groupId);
    if (v === undefined) throw sessionErrors.groupNotFound(groupId);
    return v;
  }

  async create(session: SessionRow, input: { subject: string; participants: string[]; description?: string }) {
    const jids = memberJids(input.participants, "participants");
    ready(session, "create a group");
    const req: SandboxRequest = { type: "group-create", subject: input.subject, participants: jids };
    if (input.description) req.description = input.description;
    const res = await this.ask(session, req);
    if (await this.store(session, res.group, true, session.phoneNumber)) this.d.onWritten?.(session.id);
    const given = new Map(jids.map((j, i) => [j, input.participants[i]!]));
    return { group: res.group.id, results: res.results.map((r) => ({ participant: given.get(r.participant) ?? r.participant, status: r.status })) };
  }

  async update(session: SessionRow, groupId: string, changes: GroupChanges) {
    const g = await this.stored(session, groupId, "change a group");
    // announce and locked are admins' settings; subject and description too once the group is locked.
    if (!g.isAdmin && (changes.announce !== undefined || changes.locked !== undefined || g.locked)) throw sessionErrors.notGroupAdmin("change this group's settings");
    const res = await this.ask(session, { type: "group-update", groupId, changes });
    await this.store(session, res.group, false, null);
  }

  async participants(session: SessionRow, groupId: string, action: ParticipantAction, list: string[]) {
    const jids = memberJids(list, "participants");
    const g = await this.stored(session, groupId, "change a group's members");
    if (!g.isAdmin) throw sessionErrors.notGroupAdmin(`${action} members`);
    const res = await this.ask(session, { type: "group-participants", groupId, action, participants: jids });
    await this.store(session, res.group, false, null);
    const given = new Map(jids.map((j, i) => [j, list[i]!]));
    return res.results.map((r) => ({ participant: given.get(r.participant) ?? r.participant, status: r.status }));
  }

  async invite(session: SessionRow, groupId: string, revoke: boolean): Promise<{ code: string; url: string }> {
    const g = await this.stored(session, groupId, revoke ? "revoke a group's invite" : "read a group's invite");
    if (!g.isAdmin) throw sessionErrors.notGroupAdmin(revoke ? "revoke the invite link" : "read the invite link");
    const { code } = await this.ask(session, { type: "group-invite", groupId, revoke });
    return { code, url: INVITE_URL + code };
  }

  async join(session: SessionRow, link: string): Promise<string> {
    const code = inviteCode(link);
    ready(session, "join a group");
    const res = await this.ask(session, { type: "group-join", code });
    if (await this.store(session, res.group, true, null)) this.d.onWritten?.(session.id);
    return res.group.id;
  }

  async leave(session: SessionRow, groupId: string): Promise<void> {
    await this.stored(session, groupId, "leave a group");
    await this.ask(session, { type: "group-leave", groupId });
    if (await this.d.groups.remove(session, groupId, [{ event: "group.left", data: { groupId, by: session.phoneNumber } }])) this.d.onWritten?.(session.id);
  }

  /** Whether the account is an admin of the stored group. */
  async isAdmin(session: SessionRow, groupId: string): Promise<boolean> {
    return !!(await this.d.groups.byId(session.id, groupId))?.isAdmin;
  }

  /** A group the account is in, for a send: 404 when it is not in it, 403 when only admins may send. */
  async checkSend(session: SessionRow, groupId: string): Promise<void> {
    const g = await this.d.groups.byId(session.id, groupId);
    if (!g) throw sessionErrors.groupNotFound(groupId);
    if (g.announce && !g.isAdmin) throw new SessionError("NOT_ALLOWED_TO_SEND", "Only the group's admins may send to it (announce), and the account is not one");
  }

  /** What the sandbox reported of the account's groups, stored with its webhook events. */
  async reported(session: SessionRow, r: GroupReports): Promise<void> {
    const { groups } = this.d;
    let wrote = false;
    switch (r.type) {
      case "group":
        wrote = await this.store(session, r.group, r.joined, r.by);
        break;
      case "groups_synced":
        wrote = (await groups.keepOnly(session, r.ids, (groupId) => [{ event: "group.left", data: { groupId, by: null } }])).length > 0;
        break;
      case "group_changes":
        wrote = await groups.applyChanges(session, r.groupId, r.changes, [{ event: "group.update", data: { groupId: r.groupId, changes: r.changes, by: r.by } }]);
        break;
      case "group_participants": {
        const names = r.participants.map((p) => p.phoneNumber ?? p.id);
        const events: OutboxEvent[] = [{ event: "group.participants", data: { groupId: r.groupId, action: r.action, participants: names, by: r.by } }];
        wrote = await groups.applyParticipants(session, r.groupId, r.action, r.participants, (p) => isAccount(session, p), events);
        break;
      }
      case "group_left":
        wrote = await groups.remove(session, r.groupId, [{ event: "group.left", data: { groupId: r.groupId, by: r.by } }]);
        break;
      case "lid_mappings":
        await groups.addLidMappings(session.id, r.mappings);
        return;
    }
    if (wrote) this.d.onWritten?.(session.id);
  }

  /** Stores a group as WhatsApp answered it; `joined` raises group.joined if it is new here. True when that event was written. */
  private async store(session: SessionRow, g: GroupReport, joined: boolean, by: string | null): Promise<boolean> {
    const events: OutboxEvent[] = joined ? [{ event: "group.joined", data: { groupId: g.id, subject: g.subject, by } }] : [];
    return (await this.d.groups.upsert(session, g, events)) && joined;
  }

  private async stored(session: SessionRow, groupId: string, what: string) {
    checkId(groupId);
    ready(session, what);
    const g = await this.d.groups.byId(session.id, groupId);
    if (!g) throw sessionErrors.groupNotFound(groupId);
    return g;
  }

  /** A request to the sandbox; WhatsApp's refusals come back as the API's group errors. */
  private async ask<R extends SandboxRequest>(session: SessionRow, req: R) {
    try {
      return await askSandbox(this.d, session.id, req);
    } catch (err) {
      const code = err instanceof SessionError ? err.details.sandboxCode : undefined;
      if (code === "NOT_GROUP_ADMIN") throw sessionErrors.notGroupAdmin("do that (WhatsApp refused it)");
      if (code === "GROUP_NOT_FOUND") throw sessionErrors.groupNotFound("groupId" in req ? String(req.groupId) : "");
      if (code === "INVITE_NOT_FOUND") throw new SessionError("INVITE_NOT_FOUND", "WhatsApp knows no such invite: revoked, or never made");
      throw err;
    }
  }
}

/** Whether a member is the session's own account. */
function isAccount(session: SessionRow, p: GroupParticipant): boolean {
  const phone = session.phoneNumber;
  return !!phone && (p.phoneNumber === phone || phoneOfJid(p.id) === phone);
}

function ready(session: SessionRow, what: string): void {
  if (session.state !== "ready") throw sessionErrors.wrongState(what, session.state, ["ready"]);
}

function checkId(groupId: string): void {
  if (!isGroupId(groupId)) throw sessionErrors.invalidField("groupId", "a group id is <digits>@g.us or <digits>-<digits>@g.us");
}
