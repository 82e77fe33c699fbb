// The control API's groups: members (directory contacts or phones) create groups, change them and
// write to them, as their phones would; linked devices hear of it as from WhatsApp. Refusals map
// WhatsApp's group errors to control errors: 404 UNKNOWN_GROUP, 403 NOT_GROUP_MEMBER, 403 NOT_GROUP_ADMIN.
import type { proto } from "@whiskeysockets/baileys";
import { isConversational, sendConversational } from "./control-conversation";
import { body, ControlError, fail, mediaInput, phoneNumber } from "./control-input";
import { sendToGroup } from "./group-messages";
import {
  changeParticipants,
  changeSettings,
  createGroup,
  groupCtx,
  groupJid,
  GroupError,
  isAdmin,
  MAX_DESCRIPTION,
  MAX_SUBJECT,
  memberRole,
  publish,
  type Action,
  type Group,
  type GroupCtx,
} from "./groups";
import type { EmulatorLog } from "./log";
import { contactMediaMessage } from "./media";
import type { EmulatorState } from "./state";

const ACTIONS: Action[] = ["add", "remove", "promote", "demote"];

/** A number on WhatsApp: a directory contact or a phone. */
function registered(state: EmulatorState, value: unknown, field: string): string {
  const n = phoneNumber(value, field);
  if (!state.isRegistered(n)) fail(404, "NOT_ON_WHATSAPP", `${field} ${n} is not on WhatsApp (add it with /control/numbers)`);
  return n;
}

function subject(value: unknown): string {
  if (typeof value !== "string" || !value.trim() || [...value.trim()].length > MAX_SUBJECT) fail(400, "INVALID_SUBJECT", `subject must be a string of 1 to ${MAX_SUBJECT} characters`);
  return value as string;
}

/** What WhatsApp's refusal means to a control caller. */
function asControlError(err: unknown): unknown {
  if (!(err instanceof GroupError)) return err;
  if (err.code === 404) return new ControlError(404, "UNKNOWN_GROUP", "no such group");
  if (err.code === 403) return new ControlError(403, "NOT_GROUP_MEMBER", "not a member of this group");
  if (err.code === 401) return new ControlError(403, "NOT_GROUP_ADMIN", "only the group's admins may do this");
  return new ControlError(400, "INVALID_FIELD", `refused: ${err.text}`);
}

/** Runs a group operation, then sends the notifications it owes (before the control call answers, so online devices have them). */
async function run<T>(state: EmulatorState, log: EmulatorLog, op: (ctx: GroupCtx) => T): Promise<T> {
  const ctx = groupCtx(state, log);
  let value: T;
  try {
    value = op(ctx);
  } catch (err) {
    throw asControlError(err);
  }
  await publish(ctx);
  return value;
}

export function groupView(g: Group) {
  return {
    id: g.jid,
    subject: g.subject,
    description: g.description?.text ?? null,
    announce: g.announce,
    locked: g.locked,
    participants: [...g.members].map(([phone, role]) => ({ phone, role })),
  };
}

/** Answers `/control/groups…` routes; undefined for any other path. */
export async function routeGroups(req: Request, path: string, state: EmulatorState, log: EmulatorLog): Promise<unknown> {
  if (path === "/control/groups" && req.method === "POST") {
    const b = await body(req);
    const creator = registered(state, b.creator, "creator");
    if (b.participants !== undefined && !Array.isArray(b.participants)) fail(400, "INVALID_FIELD", "participants must be an array of phone numbers");
    const others = ((b.participants ?? []) as unknown[]).map((p) => registered(state, p, "participants"));
    const g = await run(state, log, (ctx) => createGroup(ctx, creator, subject(b.subject), others));
    return { id: g.jid };
  }
  const m = /^\/control\/groups\/([^/]+)(?:\/(participants|messages))?$/.exec(path);
  if (!m) return undefined;
  const jid = groupJid(decodeURIComponent(m[1]!));
  const g = jid ? state.groups.get(jid) : undefined;
  if (!g) return fail(404, "UNKNOWN_GROUP", `no group ${decodeURIComponent(m[1]!)}`);

  if (!m[2] && req.method === "GET") return groupView(g);
  if (!m[2] && req.method === "PATCH") {
    const b = await body(req);
    const by = registered(state, b.by, "by");
    const s: { subject?: string; description?: string; announce?: boolean; locked?: boolean } = {};
    if (b.subject !== undefined) s.subject = subject(b.subject);
    if (b.description !== undefined) {
      if (typeof b.description !== "string" || [...b.description].length > MAX_DESCRIPTION) fail(400, "INVALID_DESCRIPTION", `description must be a string of at most ${MAX_DESCRIPTION} characters ("" removes it)`);
      s.description = b.description as string;
    }
    for (const k of ["announce", "locked"] as const) {
      if (b[k] === undefined) continue;
      if (typeof b[k] !== "boolean") fail(400, "INVALID_FIELD", `${k} must be true or false`);
      s[k] = b[k] as boolean;
    }
    if (!Object.keys(s).length) fail(400, "INVALID_FIELD", "give at least one of subject, description, announce, locked");
    // The control API acts as an admin would; a member's own edit of an unlocked group goes through a device.
    await run(state, log, (ctx) => changeSettings(ctx, g, by, s, { adminOnly: true }));
    return groupView(g);
  }
  if (m[2] === "participants" && req.method === "POST") {
    const b = await body(req);
    const by = registered(state, b.by, "by");
    const action = b.action as Action;
    if (!ACTIONS.includes(action)) fail(400, "INVALID_ACTION", `action must be one of ${ACTIONS.join(", ")}`);
    if (!Array.isArray(b.participants) || b.participants.length === 0 || b.participants.length > 1024) fail(400, "INVALID_FIELD", "participants must be an array of 1 to 1024 phone numbers");
    const phones = (b.participants as unknown[]).map((p) => phoneNumber(p, "participants"));
    const results = await run(state, log, (ctx) => changeParticipants(ctx, g, by, action, phones));
    return { participants: results.map((r, i) => ({ phone: phones[i], status: r.status })) };
  }
  if (m[2] === "messages" && req.method === "POST") {
    const b = await body(req);
    const from = registered(state, b.from, "from");
    let role;
    try {
      role = memberRole(g, from);
    } catch (err) {
      throw asControlError(err);
    }
    if (g.announce && !isAdmin(role)) fail(403, "NOT_GROUP_ADMIN", "only admins may write to this announcement group");
    if (isConversational(b.type)) return sendConversational(state, log, b, { from, group: g });
    let message: proto.IMessage;
    if (b.media !== undefined || (b.type !== undefined && b.type !== "text")) {
      const media = mediaInput(b);
      message = await contactMediaMessage(state.media!, media.kind, media.file, media.caption);
    } else {
      if (typeof b.text !== "string" || b.text.length === 0 || b.text.length > 65536) fail(400, "INVALID_TEXT", "text must be a string of 1 to 65536 characters");
      message = { conversation: b.text as string };
    }
    return { id: await sendToGroup(state, log, g, from, message) };
  }
  return fail(405, "METHOD_NOT_ALLOWED", `${req.method} is not allowed on ${path}`);
}
