// The account's groups as this sandbox knows them: fetched once at each connect, then kept
// current from WhatsApp's group notifications, so that a send to a group reads its members here
// (Baileys' cachedGroupMetadata) and never asks WhatsApp per message. What changes is reported
// to the API, which keeps the groups in PostgreSQL; the API's requests (create, change, invite,
// join, leave) are carried out here with Baileys' own group calls.
import { areJidsSameUser, jidDecode, type GroupMetadata, type GroupParticipant, type WASocket } from "@whiskeysockets/baileys";
import {
  clip,
  MAX_DESCRIPTION_LENGTH,
  MAX_GROUP_PARTICIPANTS,
  MAX_LID_MAPPINGS,
  MAX_SUBJECT_LENGTH,
  type GroupChangesReport,
  type GroupReport,
  type ParticipantResultReport,
  type Report,
  type SandboxRequest,
} from "../src/channel/frames";
import type { SandboxLog } from "./log";

type Role = GroupReport["participants"][number]["role"];
type Action = "add" | "remove" | "promote" | "demote";
type GroupRequest = Extract<SandboxRequest, { type: `group-${string}` }>;

const coded = (code: string, message: string) => Object.assign(new Error(message), { code });

/** WhatsApp's per-member answer to an add, remove, promote or demote, in words. */
function participantStatus(code: string, action: Action): string {
  switch (code) {
    case "200":
      return "ok";
    case "403":
      return action === "add" ? "privacy_restricted" : "not_allowed";
    case "404":
      return action === "add" ? "not_on_whatsapp" : "not_a_member";
    case "408":
      return "recently_left";
    case "409":
      return action === "add" ? "already_a_member" : "conflict";
    case "500":
      return "group_full";
    default:
      return /^[0-9]{1,4}$/.test(code) ? `error_${code}` : "error";
  }
}

/** WhatsApp's error code of a failed query: Baileys puts an iq's error code in the Boom's data, a metadata read's in its status. */
function statusOf(err: unknown): number | undefined {
  const e = err as { output?: { statusCode?: number }; data?: unknown } | null;
  return typeof e?.data === "number" ? e.data : e?.output?.statusCode;
}

/** A failed group call as the API's words: not in the group, not an admin, or WhatsApp's own failure. */
function groupFailure(err: unknown, what: string): Error {
  const status = statusOf(err);
  // WhatsApp's words: 401 not-authorized (not an admin), 403 forbidden (not a member), 404 item-not-found.
  if (status === 401) return coded("NOT_GROUP_ADMIN", `WhatsApp refused to ${what}: the account is not an admin of the group`);
  if (status === 403 || status === 404) return coded("GROUP_NOT_FOUND", `WhatsApp refused to ${what}: the account is not in the group`);
  return coded("GROUP_REQUEST_FAILED", `could not ${what}: ${err instanceof Error ? err.message : String(err)}`);
}

export class GroupDirectory {
  private readonly groups = new Map<string, GroupMetadata>();
  private sock: WASocket | null = null;

  constructor(
    private readonly report: (r: Report) => void,
    private readonly log: SandboxLog,
  ) {}

  /** For Baileys' `cachedGroupMetadata`: a send to a group known here asks WhatsApp nothing. */
  readonly cached = async (jid: string): Promise<GroupMetadata | undefined> => this.groups.get(jid);

  /** Wires a new socket's group events. */
  attach(sock: WASocket): void {
    this.sock = sock;
    sock.ev.on("groups.upsert", (list) => {
      if (this.sock !== sock) return;
      for (const g of list) void this.joined(sock, g, (g as { author?: string }).author ?? null, (g as { authorPn?: string }).authorPn ?? null);
    });
    sock.ev.on("groups.update", (list) => {
      if (this.sock !== sock) return;
      for (const u of list) this.changed(u as Partial<GroupMetadata> & { id?: string; author?: string; authorPn?: string });
    });
    // Mappings Baileys learns elsewhere (a message's envelope, app state) name members too.
    sock.ev.on("lid-mapping.update", (m) => {
      if (this.sock !== sock) return;
      const lid = jidDecode(m.lid)?.user;
      const phone = jidDecode(m.pn)?.user;
      if (lid && phone && /^[0-9]+$/.test(lid) && /^[0-9]+$/.test(phone)) this.learn([{ lid, phone }]);
    });
    sock.ev.on("group-participants.update", (u) => {
      if (this.sock !== sock) return;
      void this.membersChanged(sock, u as ParticipantsUpdate).catch((err) => this.log.warn("group membership change not applied", { groupId: u.id, error: String(err) }));
    });
  }

  /** After each connect: every group the account is in, reported, and the rest forgotten. */
  async sync(sock: WASocket): Promise<void> {
    let all: Record<string, GroupMetadata>;
    try {
      all = await sock.groupFetchAllParticipating();
    } catch (err) {
      this.log.warn("groups not synced", { error: String(err) });
      return;
    }
    if (this.sock !== sock) return;
    this.groups.clear();
    const me = this.me(sock);
    if (me.lid && me.phone) this.learn([{ lid: me.lid, phone: me.phone }]);
    for (const g of Object.values(all)) {
      this.groups.set(g.id, g);
      await this.learnFrom(sock, g);
      this.report({ type: "group", group: this.view(sock, g), joined: false, by: null });
    }
    this.report({ type: "groups_synced", ids: [...this.groups.keys()] });
    this.log.info("groups synced", { count: this.groups.size });
  }

  async handle(req: GroupRequest): Promise<unknown> {
    const sock = this.sock;
    if (!sock) throw coded("NOT_CONNECTED", "WhatsApp is not connected now");
    switch (req.type) {
      case "group-create": {
        // Numbers not on WhatsApp are named as such, not sent: WhatsApp would only refuse them.
        const phones = req.participants.filter((p) => p.endsWith("@s.whatsapp.net"));
        const found = new Set((phones.length ? ((await sock.onWhatsApp(...phones)) ?? []) : []).filter((f) => f.exists).map((f) => f.jid));
        const invited = req.participants.filter((p) => !p.endsWith("@s.whatsapp.net") || found.has(p));
        let created: GroupMetadata;
        try {
          created = await sock.groupCreate(req.subject, invited);
        } catch (err) {
          throw groupFailure(err, "create the group");
        }
        if (req.description) await sock.groupUpdateDescription(created.id, req.description).catch((err) => this.log.warn("new group's description not set", { groupId: created.id, error: String(err) }));
        const group = await this.refresh(sock, created.id, created);
        const members = new Set(group.participants.flatMap((p) => [p.id, p.phoneNumber && `${p.phoneNumber}@s.whatsapp.net`]));
        const results: ParticipantResultReport[] = req.participants.map((participant) => ({
          participant,
          status: members.has(participant) ? "ok" : invited.includes(participant) ? "not_added" : "not_on_whatsapp",
        }));
        return { group, results };
      }
      case "group-update": {
        const { groupId, changes } = req;
        try {
          if (changes.subject !== undefined) await sock.groupUpdateSubject(groupId, changes.subject);
          if (changes.description !== undefined) await sock.groupUpdateDescription(groupId, changes.description ?? undefined);
          if (changes.announce !== undefined) await sock.groupSettingUpdate(groupId, changes.announce ? "announcement" : "not_announcement");
          if (changes.locked !== undefined) await sock.groupSettingUpdate(groupId, changes.locked ? "locked" : "unlocked");
        } catch (err) {
          throw groupFailure(err, "change the group");
        }
        return { group: await this.refresh(sock, groupId) };
      }
      case "group-participants": {
        let answers: { status: string; jid?: string }[];
        try {
          answers = await sock.groupParticipantsUpdate(req.groupId, req.participants, req.action);
        } catch (err) {
          throw groupFailure(err, `${req.action} members`);
        }
        // WhatsApp may answer a member by its LID with the phone number beside it.
        const byJid = new Map<string, string>();
        for (const a of answers as { status: string; jid?: string; content?: { attrs?: Record<string, string> } }[]) {
          if (a.jid) byJid.set(a.jid, a.status);
          const pn = a.content?.attrs?.phone_number;
          if (pn) byJid.set(pn, a.status);
        }
        const results = req.participants.map((participant, i) => ({
          participant,
          status: participantStatus(byJid.get(participant) ?? answers[i]?.status ?? "200", req.action),
        }));
        return { group: await this.refresh(sock, req.groupId), results };
      }
      case "group-invite":
        try {
          const code = req.revoke ? await sock.groupRevokeInvite(req.groupId) : await sock.groupInviteCode(req.groupId);
          if (!code) throw coded("GROUP_REQUEST_FAILED", "WhatsApp answered no invite code");
          return { code };
        } catch (err) {
          throw (err as { code?: string }).code ? err : groupFailure(err, "read the invite code");
        }
      case "group-join": {
        let jid: string | undefined;
        try {
          jid = await sock.groupAcceptInvite(req.code);
        } catch (err) {
          const status = statusOf(err);
          if (status && [400, 401, 404, 406, 410].includes(status)) throw coded("INVITE_NOT_FOUND", "WhatsApp knows no such invite (revoked or never made)");
          throw groupFailure(err, "join the group");
        }
        if (!jid) throw coded("INVITE_NOT_FOUND", "WhatsApp knows no such invite");
        return { group: await this.refresh(sock, jid) };
      }
      case "group-leave":
        try {
          await sock.groupLeave(req.groupId);
        } catch (err) {
          throw groupFailure(err, "leave the group");
        }
        this.groups.delete(req.groupId);
        return {};
    }
  }

  /** The group as WhatsApp has it now (after a change of ours), kept and returned as reported. */
  private async refresh(sock: WASocket, id: string, known?: GroupMetadata): Promise<GroupReport> {
    let g = known;
    try {
      g = await sock.groupMetadata(id);
    } catch (err) {
      if (!g) throw groupFailure(err, "read the group");
    }
    this.groups.set(id, g!);
    await this.learnFrom(sock, g!);
    return this.view(sock, g!);
  }

  private async joined(sock: WASocket, g: GroupMetadata, author: string | null, authorPn: string | null): Promise<void> {
    // A group's creation notification carries its whole metadata; a fresh read is the same thing.
    this.groups.set(g.id, g);
    await this.learnFrom(sock, g);
    this.report({ type: "group", group: this.view(sock, g), joined: true, by: this.actor(authorPn ?? author) });
  }

  private changed(u: Partial<GroupMetadata> & { id?: string; author?: string; authorPn?: string }): void {
    // groupFetchAllParticipating emits whole groups as updates too: those are the sync, not changes.
    if (!u.id || u.participants) return;
    const g = this.groups.get(u.id);
    const changes: GroupChangesReport = {};
    if (u.subject !== undefined) changes.subject = clip(u.subject, MAX_SUBJECT_LENGTH);
    if ("desc" in u) changes.description = u.desc ? clip(u.desc, MAX_DESCRIPTION_LENGTH) : null;
    if (u.announce !== undefined) changes.announce = !!u.announce;
    if (u.restrict !== undefined) changes.locked = !!u.restrict;
    if (Object.keys(changes).length === 0) return;
    if (g) {
      if (changes.subject !== undefined) g.subject = changes.subject;
      if (changes.description !== undefined) g.desc = changes.description ?? undefined;
      if (changes.announce !== undefined) g.announce = changes.announce;
      if (changes.locked !== undefined) g.restrict = changes.locked;
    }
    this.report({ type: "group_changes", groupId: u.id, changes, by: this.actor(u.authorPn ?? u.author ?? null) });
  }

  private async membersChanged(sock: WASocket, u: ParticipantsUpdate): Promise<void> {
    const action = u.action as Action;
    if (!["add", "remove", "promote", "demote"].includes(action)) return;
    const by = this.actor(u.authorPn ?? u.author ?? null);
    const members = u.participants.map((p) => (typeof p === "string" ? { id: p } : p));
    const me = this.me(sock);
    const isMe = (p: { id: string; phoneNumber?: string }) =>
      (!!me.jid && (areJidsSameUser(p.id, me.jid) || (!!p.phoneNumber && areJidsSameUser(p.phoneNumber, me.jid)))) || (!!me.lid && jidDecode(p.id)?.user === me.lid);
    if (action === "remove" && members.some(isMe)) {
      this.groups.delete(u.id);
      this.report({ type: "group_left", groupId: u.id, by });
      return;
    }
    if (action === "add" && members.some(isMe)) {
      // Added (or joined by link): the group is new to us, read it whole.
      const g = await sock.groupMetadata(u.id).catch(() => undefined);
      if (g) await this.joined(sock, g, u.author ?? null, u.authorPn ?? null);
      return;
    }
    const pairs = members.flatMap((p) => (p.phoneNumber && jidDecode(p.id)?.server === "lid" ? [{ lid: jidDecode(p.id)!.user, phone: jidDecode(p.phoneNumber)!.user }] : []));
    if (pairs.length) this.learn(pairs);
    const g = this.groups.get(u.id);
    if (g) applyMembers(g, action, members);
    const reported = await Promise.all(members.map(async (p) => ({ id: p.id, phoneNumber: p.phoneNumber ? phoneOf(p.phoneNumber) : await this.phoneFor(sock, p.id) })));
    for (let i = 0; i < reported.length; i += 1024) {
      this.report({ type: "group_participants", groupId: u.id, action, participants: reported.slice(i, i + 1024), by });
    }
  }

  /** The group as the channel carries it: members with phone numbers where known. */
  private view(sock: WASocket, g: GroupMetadata): GroupReport {
    const me = this.me(sock);
    const participants = g.participants.slice(0, MAX_GROUP_PARTICIPANTS).map((p) => ({ id: p.id, phoneNumber: this.phoneKnown(p), role: roleOf(p) }));
    const mine = participants.find((p) => (me.phone && p.phoneNumber === me.phone) || (me.lid && jidDecode(p.id)?.user === me.lid));
    return {
      id: g.id,
      subject: clip(g.subject ?? "", MAX_SUBJECT_LENGTH),
      description: g.desc ? clip(g.desc, MAX_DESCRIPTION_LENGTH) : null,
      owner: this.actor(g.ownerPn ?? g.owner ?? null),
      createdAt: g.creation && Number.isFinite(g.creation) ? g.creation : null,
      announce: !!g.announce,
      locked: !!g.restrict,
      isAdmin: !!mine && mine.role !== "member",
      participants,
    };
  }

  /** LID → phone pairs from a group's metadata, kept by Baileys (for message authors) and reported. */
  private async learnFrom(sock: WASocket, g: GroupMetadata): Promise<void> {
    const pairs = g.participants.flatMap((p) => {
      const lid = jidDecode(p.id);
      return lid?.server === "lid" && p.phoneNumber ? [{ lid: lid.user, phone: phoneOf(p.phoneNumber)! }] : [];
    });
    if (pairs.length === 0) return;
    await sock.signalRepository.lidMapping
      .storeLIDPNMappings(pairs.map((p) => ({ lid: `${p.lid}@lid`, pn: `${p.phone}@s.whatsapp.net` })))
      .catch((err) => this.log.warn("LID mappings not kept", { error: String(err) }));
    this.learn(pairs);
  }

  private readonly lids = new Map<string, string>();

  private learn(pairs: { lid: string; phone: string }[]): void {
    const fresh = pairs.filter((p) => p.phone && this.lids.get(p.lid) !== p.phone);
    for (const p of fresh) this.lids.set(p.lid, p.phone);
    for (let i = 0; i < fresh.length; i += MAX_LID_MAPPINGS) this.report({ type: "lid_mappings", mappings: fresh.slice(i, i + MAX_LID_MAPPINGS) });
  }

  private phoneKnown(p: GroupParticipant): string | null {
    if (p.phoneNumber) return phoneOf(p.phoneNumber);
    const d = jidDecode(p.id);
    if (d?.server === "s.whatsapp.net") return d.user;
    return d?.server === "lid" ? (this.lids.get(d.user) ?? null) : null;
  }

  private async phoneFor(sock: WASocket, jid: string): Promise<string | null> {
    const d = jidDecode(jid);
    if (d?.server === "s.whatsapp.net") return d.user;
    if (d?.server !== "lid") return null;
    const known = this.lids.get(d.user);
    if (known) return known;
    const pn = await sock.signalRepository.lidMapping.getPNForLID(jid).catch(() => null);
    return pn ? phoneOf(pn) : null;
  }

  /** A member as the API names it: a phone number where known, else its jid (for authors and mentions). */
  nameOf(jid: string): string {
    return this.actor(jid) ?? jid;
  }

  /** Who did something, as the channel names them: a phone number where known, else the jid. */
  private actor(jid: string | null): string | null {
    if (!jid) return null;
    const d = jidDecode(jid);
    if (d?.server === "s.whatsapp.net") return d.user;
    if (d?.server === "lid") return this.lids.get(d.user) ?? `${d.user}@lid`;
    return null;
  }

  private me(sock: WASocket): { jid: string | null; phone: string | null; lid: string | null } {
    const jid = sock.user?.id ?? null;
    return { jid, phone: jid ? (jidDecode(jid)?.user ?? null) : null, lid: sock.user?.lid ? (jidDecode(sock.user.lid)?.user ?? null) : null };
  }
}

type ParticipantsUpdate = { id: string; author?: string; authorPn?: string; action: string; participants: (string | { id: string; phoneNumber?: string; admin?: string | null })[] };

const phoneOf = (jid: string) => jidDecode(jid)?.user ?? null;

function roleOf(p: GroupParticipant): Role {
  return p.admin === "superadmin" ? "superadmin" : p.admin === "admin" ? "admin" : "member";
}

/** A membership change applied to the kept metadata, so the next send reaches the right members. */
function applyMembers(g: GroupMetadata, action: Action, members: { id: string; phoneNumber?: string }[]): void {
  const ids = new Set(members.map((m) => m.id));
  if (action === "remove") g.participants = g.participants.filter((p) => !ids.has(p.id));
  else if (action === "add") {
    const have = new Set(g.participants.map((p) => p.id));
    for (const m of members) if (!have.has(m.id)) g.participants.push({ id: m.id, phoneNumber: m.phoneNumber, admin: null } as GroupParticipant);
  } else {
    for (const p of g.participants) if (ids.has(p.id) && p.admin !== "superadmin") p.admin = action === "promote" ? "admin" : null;
  }
  g.size = g.participants.length;
}
