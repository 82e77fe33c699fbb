// Groups as WhatsApp keeps them: metadata and members with roles, changed by members (control
// API or a device's `w:g2` iqs, see group-iq.ts) under WhatsApp's rules, each change told to every
// member's linked devices as a `w:gp2` notification (the acting device included: that is how
// Baileys learns its own changes). Groups are LID-addressed, as WhatsApp's are now: members appear
// as `<participant jid="<lid>@lid" phone_number="<pn>@s.whatsapp.net"/>`, actors as
// `participant="<lid>@lid" participant_pn="<pn>@s.whatsapp.net"`.
import type { EmulatorLog } from "./log";
import { notifyDevices } from "./messages";
import { node, type BinaryNode } from "./nodes";
import type { Device, EmulatorState } from "./state";

export type Role = "member" | "admin" | "superadmin";

export interface Group {
  /** `120363<12 digits>@g.us`, as WhatsApp names groups now. */
  jid: string;
  subject: string;
  subjectBy: string;
  subjectAt: number;
  description?: { text: string; id: string; by: string; at: number };
  creator: string;
  createdAt: number;
  /** Only admins may send messages. */
  announce: boolean;
  /** Only admins may edit the group's info (subject, description). */
  locked: boolean;
  /** Numbers of the members and their roles, in the order they joined. */
  members: Map<string, Role>;
  /** The current invite code, made when an admin first asks for it. */
  invite?: string;
}

export type Action = "add" | "remove" | "promote" | "demote";

/** A refusal, with the code and text WhatsApp answers it with (iq error or per-participant error). */
export class GroupError extends Error {
  constructor(
    readonly code: number,
    readonly text: string,
  ) {
    super(text);
  }
}

export const MAX_SUBJECT = 100;
export const MAX_DESCRIPTION = 2048;
export const isAdmin = (role: Role | undefined) => role === "admin" || role === "superadmin";
const lidJid = (state: EmulatorState, number: string) => `${state.lid(number)}@lid`;
const pnJid = (number: string) => `${number}@s.whatsapp.net`;

/** The group JID a caller means: `<digits>@g.us` or bare digits (`<digits>-<digits>` too). */
export function groupJid(value: string): string | undefined {
  const jid = value.includes("@") ? value : `${value}@g.us`;
  return /^\d+(-\d+)?@g\.us$/.test(jid) ? jid : undefined;
}

/** The group, or 404 (item-not-found). */
export function findGroup(state: EmulatorState, jid: string | undefined): Group {
  const g = jid ? state.groups.get(jid) : undefined;
  if (!g) throw new GroupError(404, "item-not-found");
  return g;
}

/** The member's role, or 403 (forbidden) when `number` is not in the group, as WhatsApp refuses non-members. */
export function memberRole(g: Group, number: string): Role {
  const role = g.members.get(number);
  if (!role) throw new GroupError(403, "forbidden");
  return role;
}

/** A member who is no admin gets 401 (not-authorized) for admin-only operations, as WhatsApp answers. */
export function requireAdmin(g: Group, number: string): void {
  if (!isAdmin(memberRole(g, number))) throw new GroupError(401, "not-authorized");
}

/** The linked devices of the given accounts (directory contacts have none). */
export function devicesOf(state: EmulatorState, numbers: Iterable<string>): Device[] {
  return [...new Set(numbers)].flatMap((n) => state.linkedDevices(n));
}

/** The number a participant JID (PN or LID) stands for, if it is on WhatsApp. */
export function numberOfJid(state: EmulatorState, jid: string): string | undefined {
  const n = state.numberOf(jid);
  return n && state.isRegistered(n) ? n : undefined;
}

export function participantNode(state: EmulatorState, number: string, role?: Role): BinaryNode {
  const attrs: Record<string, string> = { jid: lidJid(state, number), phone_number: pnJid(number) };
  if (role && role !== "member") attrs.type = role;
  return node("participant", attrs);
}

/** The `<group>` node of metadata answers and create notifications, as WhatsApp sends it. */
export function groupNode(state: EmulatorState, g: Group): BinaryNode {
  const content: BinaryNode[] = [];
  if (g.description) {
    const d = g.description;
    content.push(node("description", { id: d.id, participant: lidJid(state, d.by), participant_pn: pnJid(d.by), t: String(d.at) }, [node("body", {}, d.text)]));
  }
  if (g.announce) content.push(node("announcement"));
  if (g.locked) content.push(node("locked"));
  // Only admins add members here: WhatsApp's "admin_add".
  content.push(node("member_add_mode", {}, "admin_add"));
  for (const [number, role] of g.members) content.push(participantNode(state, number, role));
  return node(
    "group",
    {
      id: g.jid.split("@")[0]!,
      addressing_mode: "lid",
      creator: lidJid(state, g.creator),
      creator_pn: pnJid(g.creator),
      creation: String(g.createdAt),
      subject: g.subject,
      s_t: String(g.subjectAt),
      s_o: lidJid(state, g.subjectBy),
      s_o_pn: pnJid(g.subjectBy),
      size: String(g.members.size),
    },
    content,
  );
}

/**
 * Where group operations run: the state, the log, and the notifications they owe. The caller
 * sends those with publish() once it has answered, as WhatsApp answers an iq before it notifies.
 */
export interface GroupCtx {
  state: EmulatorState;
  log: EmulatorLog;
  /** Each notification with the devices it goes to, fixed when the change happens (a removed member still hears of it). */
  owed: { stanza: BinaryNode; devices: Device[] }[];
}

export const groupCtx = (state: EmulatorState, log: EmulatorLog): GroupCtx => ({ state, log, owed: [] });

let notificationSeq = Math.floor(Math.random() * 1_000_000);

/** Owes a `w:gp2` notification about `g` from `actor` (none when the server itself acts) to the devices of `to` (default: the members now). */
function notify(ctx: GroupCtx, g: Group, actor: string | undefined, child: BinaryNode, to: Iterable<string> = g.members.keys()): void {
  const attrs: Record<string, string> = { from: g.jid, type: "w:gp2", id: String(++notificationSeq), t: String(ctx.state.now()), addressing_mode: "lid" };
  if (actor) Object.assign(attrs, { participant: lidJid(ctx.state, actor), participant_pn: pnJid(actor) });
  ctx.owed.push({ stanza: node("notification", attrs, [child]), devices: devicesOf(ctx.state, to) });
}

/** Sends, in order, the notifications the operations owe. */
export async function publish(ctx: GroupCtx): Promise<void> {
  for (const { stanza, devices } of ctx.owed.splice(0)) if (devices.length) await notifyDevices(ctx.state, ctx.log, devices, stanza);
}

/** Tells newly joined members' devices the whole group (`<create>`), so their clients know it (Baileys: groups.upsert). */
function announceJoin(ctx: GroupCtx, g: Group, actor: string, numbers: string[], attrs: Record<string, string>): void {
  notify(ctx, g, actor, node("create", attrs, [groupNode(ctx.state, g)]), numbers);
}

/** A new id like WhatsApp's: `120363` and 12 more digits. */
function newGroupJid(state: EmulatorState): string {
  let jid: string;
  do jid = `120363${String(Math.floor(Math.random() * 1e12)).padStart(12, "0")}@g.us`;
  while (state.groups.has(jid));
  return jid;
}

function checkSubject(subject: string): string {
  const s = subject.trim();
  if (!s) throw new GroupError(400, "bad-request");
  if ([...s].length > MAX_SUBJECT) throw new GroupError(406, "not-acceptable");
  return s;
}

/**
 * `creator` makes a group with `others` (numbers on WhatsApp; the caller drops the rest) and
 * becomes its superadmin. Every member's devices get `<create type="new">`, with the creator's
 * `key` (which lets the creating device match it to its request).
 */
export function createGroup(ctx: GroupCtx, creator: string, subject: string, others: string[], key?: string): Group {
  const t = ctx.state.now();
  const g: Group = {
    jid: newGroupJid(ctx.state),
    subject: checkSubject(subject),
    subjectBy: creator,
    subjectAt: t,
    creator,
    createdAt: t,
    announce: false,
    locked: false,
    members: new Map([[creator, "superadmin" as Role]]),
  };
  for (const n of others) if (!g.members.has(n)) g.members.set(n, "member");
  ctx.state.groups.set(g.jid, g);
  ctx.log.info("group created", { group: g.jid, creator, members: g.members.size });
  announceJoin(ctx, g, creator, [...g.members.keys()], { type: "new", ...(key ? { key } : {}) });
  return g;
}

export interface ParticipantResult {
  number: string | undefined;
  /** 200, or WhatsApp's per-participant error: 404 not a member / not on WhatsApp, 409 already a member, 403 not allowed. */
  status: number;
}

/**
 * `by` adds, removes, promotes or demotes members (admins only; any member may remove itself,
 * which is leaving). Each number gets its own status; the changes are told to every member's
 * devices, the removed ones' included, and new members' devices get the whole group as well.
 */
export function changeParticipants(ctx: GroupCtx, g: Group, by: string, action: Action, numbers: (string | undefined)[]): ParticipantResult[] {
  const leaving = action === "remove" && numbers.length === 1 && numbers[0] === by;
  if (leaving) memberRole(g, by);
  else requireAdmin(g, by);
  const before = [...g.members.keys()];
  const changed: string[] = [];
  const results = numbers.map((number): ParticipantResult => {
    if (!number || !ctx.state.isRegistered(number)) return { number, status: 404 };
    const role = g.members.get(number);
    if (action === "add") {
      if (role) return { number, status: 409 };
      g.members.set(number, "member");
    } else if (!role) {
      return { number, status: 404 };
    } else if (role === "superadmin" && number !== by && action !== "promote") {
      return { number, status: 403 }; // the creator is removed or demoted by no one but itself
    } else if (action === "remove") {
      g.members.delete(number);
    } else if (action === "promote" && !isAdmin(role)) {
      g.members.set(number, "admin");
    } else if (action === "demote" && isAdmin(role)) {
      g.members.set(number, "member");
    } else {
      return { number, status: 200 }; // already in that role: nothing to tell
    }
    changed.push(number);
    return { number, status: 200 };
  });
  if (changed.length) {
    ctx.log.info("group participants changed", { group: g.jid, by, action, numbers: changed });
    // New members learn the group first, so the `<add>` that names them is about a group they know.
    if (action === "add") announceJoin(ctx, g, by, changed, { reason: "add" });
    const child = node(action, {}, changed.map((n) => participantNode(ctx.state, n, action === "promote" ? "admin" : undefined)));
    notify(ctx, g, by, child, action === "remove" ? before : g.members.keys());
    if (action === "remove") keepAnAdmin(ctx, g);
  }
  return results;
}

/** WhatsApp leaves no group without admins: when the last one goes, the longest-standing member becomes one. */
function keepAnAdmin(ctx: GroupCtx, g: Group): void {
  if (g.members.size === 0 || [...g.members.values()].some(isAdmin)) return;
  const [heir] = g.members.keys();
  g.members.set(heir!, "admin");
  notify(ctx, g, undefined, node("promote", {}, [participantNode(ctx.state, heir!, "admin")]));
}

export interface Settings {
  subject?: string;
  /** A new description; "" deletes it. */
  description?: string;
  /** The description id the changer last saw (`prev`): another one is a conflict (409), as someone changed it meanwhile. */
  descriptionPrev?: string;
  /** The id the changer gave the new description. */
  descriptionId?: string;
  announce?: boolean;
  locked?: boolean;
}

/**
 * `by` changes the group's info or settings. Subject and description need an admin only in a
 * locked group (unless `adminOnly`); announce and locked always do. Each change is one notification.
 */
export function changeSettings(ctx: GroupCtx, g: Group, by: string, s: Settings, opts: { adminOnly?: boolean } = {}): void {
  const role = memberRole(g, by);
  const needsAdmin = opts.adminOnly || s.announce !== undefined || s.locked !== undefined || g.locked;
  if (needsAdmin && !isAdmin(role)) throw new GroupError(401, "not-authorized");
  const subject = s.subject === undefined ? undefined : checkSubject(s.subject);
  if (s.description !== undefined && [...s.description].length > MAX_DESCRIPTION) throw new GroupError(406, "not-acceptable");
  if (s.description !== undefined && s.descriptionPrev && s.descriptionPrev !== g.description?.id) throw new GroupError(409, "conflict");
  const t = ctx.state.now();
  const changes: BinaryNode[] = [];
  if (subject !== undefined && subject !== g.subject) {
    Object.assign(g, { subject, subjectBy: by, subjectAt: t });
    changes.push(node("subject", { subject, s_t: String(t), s_o: lidJid(ctx.state, by), s_o_pn: pnJid(by) }));
  }
  if (s.description !== undefined && s.description !== (g.description?.text ?? "")) {
    const id = s.descriptionId || Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex").toUpperCase();
    g.description = s.description ? { text: s.description, id, by, at: t } : undefined;
    changes.push(node("description", { id }, s.description ? [node("body", {}, s.description)] : [node("delete")]));
  }
  if (s.announce !== undefined && s.announce !== g.announce) {
    g.announce = s.announce;
    changes.push(node(s.announce ? "announcement" : "not_announcement", { v_id: String(t) }));
  }
  if (s.locked !== undefined && s.locked !== g.locked) {
    g.locked = s.locked;
    changes.push(node(s.locked ? "locked" : "unlocked"));
  }
  for (const child of changes) notify(ctx, g, by, child);
  if (changes.length) ctx.log.info("group settings changed", { group: g.jid, by, changes: changes.map((c) => c.tag) });
}

/** WhatsApp's invite codes: 22 letters and digits. */
function newInviteCode(state: EmulatorState): string {
  const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let code: string;
  do code = Array.from(crypto.getRandomValues(new Uint8Array(22)), (b) => abc[b % abc.length]).join("");
  while (state.invites.has(code));
  return code;
}

/** The group's invite code, made on first request (admins only). */
export function inviteCode(ctx: GroupCtx, g: Group, by: string): string {
  requireAdmin(g, by);
  if (!g.invite) {
    g.invite = newInviteCode(ctx.state);
    ctx.state.invites.set(g.invite, { group: g.jid, revoked: false });
  }
  return g.invite;
}

/** An admin resets the invite link: the old code stops working (410 gone); admins' devices hear the new one. */
export function revokeInvite(ctx: GroupCtx, g: Group, by: string): string {
  requireAdmin(g, by);
  if (g.invite) ctx.state.invites.set(g.invite, { group: g.jid, revoked: true });
  g.invite = undefined;
  const code = inviteCode(ctx, g, by);
  const admins = [...g.members].filter(([, r]) => isAdmin(r)).map(([n]) => n);
  notify(ctx, g, by, node("invite", { code }), admins);
  return code;
}

/** The group an invite code opens: 406 (not-acceptable) for a code never issued, 410 (gone) for a revoked one, as WhatsApp answers. */
export function groupOfInvite(state: EmulatorState, code: string): Group {
  const invite = state.invites.get(code);
  if (!invite) throw new GroupError(406, "not-acceptable");
  const g = state.groups.get(invite.group);
  if (invite.revoked || !g) throw new GroupError(410, "gone");
  return g;
}

/** `number` joins by invite code: the joiner's devices get the group, then every member's hear `<add reason="invite">`. */
export function joinByInvite(ctx: GroupCtx, code: string, number: string): Group {
  const g = groupOfInvite(ctx.state, code);
  if (g.members.has(number)) return g;
  g.members.set(number, "member");
  ctx.log.info("joined a group by invite", { group: g.jid, number });
  announceJoin(ctx, g, number, [number], { reason: "invite" });
  notify(ctx, g, number, node("add", { reason: "invite" }, [participantNode(ctx.state, number)]));
  return g;
}
