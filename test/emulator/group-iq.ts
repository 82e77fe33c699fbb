// The `w:g2` iqs a linked device sends (Baileys' Socket/groups.js): list and query groups, create,
// leave, subject, description, participants, settings, invite codes. Answers are WhatsApp's: the
// `<group>` node, per-participant error codes, iq errors 400/401/403/404/406/409/410; the
// notifications a change owes go out after the answer.
import {
  changeParticipants,
  changeSettings,
  createGroup,
  findGroup,
  groupCtx,
  groupJid,
  groupNode,
  groupOfInvite,
  GroupError,
  inviteCode,
  joinByInvite,
  memberRole,
  numberOfJid,
  publish,
  revokeInvite,
  type Action,
  type GroupCtx,
} from "./groups";
import type { IqContext } from "./iq-handlers";
import { bytes, child, children, node, type BinaryNode } from "./nodes";

const SETTINGS: Record<string, { announce?: boolean; locked?: boolean }> = {
  announcement: { announce: true },
  not_announcement: { announce: false },
  locked: { locked: true },
  unlocked: { locked: false },
};
const ACTIONS = new Set<string>(["add", "remove", "promote", "demote"]);

// Group iqs are answered from the JID they went to (a group, or `g.us`).
const result = (iq: BinaryNode, content?: BinaryNode[]) => node("iq", { id: iq.attrs.id ?? "", type: "result", from: iq.attrs.to || "g.us" }, content);
const error = (iq: BinaryNode, code: number, text: string) =>
  node("iq", { id: iq.attrs.id ?? "", type: "error", from: iq.attrs.to || "g.us" }, [node("error", { code: String(code), text })]);
const firstChild = (iq: BinaryNode) => (Array.isArray(iq.content) ? iq.content[0] : undefined);

export async function handleGroupIq(iq: BinaryNode, ctx: IqContext): Promise<void> {
  const g = groupCtx(ctx.state, ctx.log);
  let answer: BinaryNode | undefined;
  try {
    answer = answerGroupIq(iq, g, ctx.device.phone);
  } catch (err) {
    if (!(err instanceof GroupError)) throw err;
    return ctx.send(error(iq, err.code, err.text));
  }
  if (!answer) {
    ctx.log.warn("unknown group iq answered with an error", { type: iq.attrs.type, child: firstChild(iq)?.tag });
    return ctx.send(error(iq, 501, "feature-not-implemented"));
  }
  ctx.send(answer);
  await publish(g);
}

/** The answer to a group iq of a device of `me` (undefined: not a query this server knows). Throws GroupError to refuse. */
function answerGroupIq(iq: BinaryNode, ctx: GroupCtx, me: string): BinaryNode | undefined {
  const { state } = ctx;
  const type = iq.attrs.type;
  const op = firstChild(iq);
  const to = iq.attrs.to ?? "";
  if (!op) return undefined;

  if (to === "g.us" || to === "@g.us") {
    if (type === "get" && op.tag === "participating") {
      const mine = [...state.groups.values()].filter((g) => g.members.has(me));
      return result(iq, [node("groups", {}, mine.map((g) => groupNode(state, g)))]);
    }
    if (type === "set" && op.tag === "create") {
      // Numbers not on WhatsApp are left out, of the group and of the answer.
      const others = children(op, "participant").map((p) => numberOfJid(state, p.attrs.jid ?? "")).filter((n): n is string => !!n && n !== me);
      return result(iq, [groupNode(state, createGroup(ctx, me, op.attrs.subject ?? "", others, op.attrs.key))]);
    }
    if (type === "set" && op.tag === "leave") {
      const groups = children(op, "group").map((item) => findGroup(state, groupJid(item.attrs.id ?? "")));
      for (const g of groups) memberRole(g, me); // all or nothing: refuse before leaving any
      for (const g of groups) changeParticipants(ctx, g, me, "remove", [me]);
      return result(iq, [node("leave", {}, groups.map((g) => node("group", { id: g.jid })))]);
    }
    if (op.tag === "invite" && op.attrs.code) {
      if (type === "get") return result(iq, [groupNode(state, groupOfInvite(state, op.attrs.code))]);
      return result(iq, [node("group", { jid: joinByInvite(ctx, op.attrs.code, me).jid })]);
    }
    return undefined;
  }

  const g = findGroup(state, groupJid(to));
  if (type === "get" && op.tag === "query") {
    memberRole(g, me);
    return result(iq, [groupNode(state, g)]);
  }
  if (op.tag === "invite") {
    const code = type === "set" ? revokeInvite(ctx, g, me) : inviteCode(ctx, g, me);
    return result(iq, [node("invite", { code })]);
  }
  if (type !== "set") return undefined;
  if (op.tag === "subject") {
    changeSettings(ctx, g, me, { subject: bytes(op).toString("utf8") });
    return result(iq);
  }
  if (op.tag === "description") {
    const text = op.attrs.delete === "true" ? "" : bytes(child(op, "body")).toString("utf8");
    changeSettings(ctx, g, me, { description: text, descriptionPrev: op.attrs.prev, descriptionId: op.attrs.id });
    return result(iq);
  }
  if (Object.hasOwn(SETTINGS, op.tag)) {
    changeSettings(ctx, g, me, SETTINGS[op.tag]!);
    return result(iq);
  }
  if (ACTIONS.has(op.tag)) {
    const asked = children(op, "participant").map((p) => p.attrs.jid ?? "");
    const results = changeParticipants(ctx, g, me, op.tag as Action, asked.map((jid) => numberOfJid(state, jid)));
    // Each participant under the JID it was asked by, with its other JID, and an error code unless it went through.
    const nodes = results.map((r, i) => {
      const jid = asked[i]!;
      const attrs: Record<string, string> = { jid };
      if (r.number) Object.assign(attrs, jid.endsWith("@lid") ? { phone_number: `${r.number}@s.whatsapp.net` } : { lid: `${state.lid(r.number)}@lid` });
      if (r.status !== 200) attrs.error = String(r.status);
      return node("participant", attrs);
    });
    return result(iq, [node(op.tag, {}, nodes)]);
  }
  return undefined;
}
