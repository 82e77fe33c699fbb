// The account's groups: list and read them (from PostgreSQL), create and change them, their
// members and invite links, join by link and leave (through the session's sandbox).
import type { Sessions } from "../../sessions";
import { groupView } from "../../sessions/groups";
import {
  authErrors,
  ErrorResponse,
  GroupCreateBody,
  GroupCreatedResponse,
  GroupParams,
  GroupPatchBody,
  GroupResponse,
  GroupsResponse,
  InviteResponse,
  JoinBody,
  LeaveResponse,
  ParticipantsBody,
  ParticipantsResponse,
  sandboxErrors,
} from "./models";
import { sessionsResource, type SessionsRoutesOptions } from "./resource";
import type { SessionRow } from "../../db/schema";

const groupSandboxErrors = { ...sandboxErrors, 503: ErrorResponse };
const groupErrors = { ...groupSandboxErrors, ...authErrors };
const json = { headers: { "content-type": "application/json" } };

/** Most bytes of group bodies kept for reads to answer again (a group of 1,024 is about 80 KiB). */
const KEPT_BYTES = 32 * 1024 * 1024;

/**
 * Group bodies by session and group, with the version they were made from. Each read asks the
 * database for the group's version (one small row) and answers the kept body while it is the
 * same: every API process sees every write, so none answers a stale group.
 */
class GroupBodies {
  private readonly kept = new Map<string, { version: string; body: string }>();
  private bytes = 0;

  async body(sessions: Sessions, session: SessionRow, groupId: string): Promise<string> {
    const key = `${session.id} ${groupId}`;
    const version = await sessions.groups.version(session, groupId);
    const hit = this.kept.get(key);
    if (hit?.version === version) return hit.body;
    const g = await sessions.groups.get(session, groupId);
    const head = JSON.stringify({ success: true, group: groupView(g) });
    // `{"success":true,"group":{…}}` with `,"participants":[…]` put inside the group: the members
    // are the stored JSON text as it is, never a thousand objects built and encoded per read.
    const body = `${head.slice(0, -2)},"participants":${g.participantsJson}}}`;
    this.keep(key, g.version, body);
    return body;
  }

  private keep(key: string, version: string, body: string): void {
    const old = this.kept.get(key);
    if (old) {
      this.bytes -= old.body.length;
      this.kept.delete(key);
    }
    if (body.length > KEPT_BYTES / 4) return;
    this.kept.set(key, { version, body });
    this.bytes += body.length;
    // The oldest kept go first.
    for (const [k, v] of this.kept) {
      if (this.bytes <= KEPT_BYTES) break;
      this.kept.delete(k);
      this.bytes -= v.body.length;
    }
  }
}

async function groupResponse(bodies: GroupBodies, sessions: Sessions, session: SessionRow, groupId: string, extra = "", status = 200): Promise<Response> {
  const body = await bodies.body(sessions, session, groupId);
  return new Response(extra ? `${body.slice(0, -1)}${extra}}` : body, { status, ...json });
}

export function groupsRoutes(opts: SessionsRoutesOptions) {
  const { sessions } = opts;
  const bodies = new GroupBodies();
  return sessionsResource(opts, "groups")
    .get("/:id/groups", async ({ session }) => ({ success: true as const, groups: (await sessions.groups.list(session)).map(groupView) }), {
      session: { body: false },
      response: { 200: GroupsResponse, ...authErrors },
      detail: {
        summary: "List the account's groups",
        description: "From the database, kept current by WhatsApp's notifications and a sync at each connect: no query to WhatsApp per call. 409 unless the session is ready.",
      },
    })
    .post(
      "/:id/groups",
      async ({ session, body }) => {
        const created = await sessions.groups.create(session, body);
        return groupResponse(bodies, sessions, session, created.group, `,"results":${JSON.stringify(created.results)}`, 201) as unknown as never;
      },
      {
        session: { body: true },
        body: GroupCreateBody,
        response: { 201: GroupCreatedResponse, ...groupErrors },
        detail: {
          summary: "Create a group",
          description:
            "The account creates the group and is its superadmin. `results` says what became of each participant: `ok`, or WhatsApp's reason (`not_on_whatsapp`, `privacy_restricted`, …); the group is made with those it could add.",
        },
      },
    )
    .post(
      "/:id/groups/join",
      async ({ session, body }) => groupResponse(bodies, sessions, session, await sessions.groups.join(session, body.code)) as unknown as never,
      {
        session: { body: true },
        body: JoinBody,
        response: { 200: GroupResponse, ...groupErrors },
        detail: { summary: "Join a group by its invite link", description: "404 INVITE_NOT_FOUND for a code revoked or never made." },
      },
    )
    .get("/:id/groups/:groupId", async ({ session, params }) => groupResponse(bodies, sessions, session, params.groupId) as unknown as never, {
      session: { body: false },
      params: GroupParams,
      response: { 200: GroupResponse, ...authErrors },
      detail: {
        summary: "Get a group with its members",
        description:
          "Members by jid (`id`, often a LID) with their `phoneNumber` where known and their `role`. From the database. 404 GROUP_NOT_FOUND for a group the account is not in; 400 for a malformed group id.",
      },
    })
    .patch(
      "/:id/groups/:groupId",
      async ({ session, params, body }) => {
        const { description, ...rest } = body;
        await sessions.groups.update(session, params.groupId, { ...rest, ...(description !== undefined ? { description: description || null } : {}) });
        return groupResponse(bodies, sessions, session, params.groupId) as unknown as never;
      },
      {
        session: { body: true },
        params: GroupParams,
        body: GroupPatchBody,
        response: { 200: GroupResponse, ...groupErrors },
        detail: {
          summary: "Change a group's subject, description or settings",
          description:
            "`announce`: only admins send; `locked`: only admins edit the group's info. Those two need an admin, and so do subject and description once the group is locked: 403 NOT_GROUP_ADMIN otherwise. 404 GROUP_NOT_FOUND for a group the account is not in.",
        },
      },
    )
    .post(
      "/:id/groups/:groupId/participants",
      async ({ session, params, body }) => ({ success: true as const, results: await sessions.groups.participants(session, params.groupId, body.action, body.participants) }),
      {
        session: { body: true },
        params: GroupParams,
        body: ParticipantsBody,
        response: { 200: ParticipantsResponse, ...groupErrors },
        detail: {
          summary: "Add, remove, promote or demote members",
          description: "`results` holds each member's outcome: `ok` or WhatsApp's reason. 403 NOT_GROUP_ADMIN unless the account is an admin; 404 GROUP_NOT_FOUND for a group the account is not in.",
        },
      },
    )
    .get("/:id/groups/:groupId/invite", async ({ session, params }) => ({ success: true as const, ...(await sessions.groups.invite(session, params.groupId, false)) }), {
      session: { body: false },
      params: GroupParams,
      response: { 200: InviteResponse, ...groupErrors },
      detail: { summary: "Get the group's invite link", description: "403 NOT_GROUP_ADMIN unless the account is an admin; 404 GROUP_NOT_FOUND for a group the account is not in." },
    })
    .delete("/:id/groups/:groupId/invite", async ({ session, params }) => ({ success: true as const, ...(await sessions.groups.invite(session, params.groupId, true)) }), {
      session: { body: false },
      params: GroupParams,
      response: { 200: InviteResponse, ...groupErrors },
      detail: { summary: "Revoke the group's invite link", description: "The old link stops working; answers the new one. 403 NOT_GROUP_ADMIN unless the account is an admin; 404 GROUP_NOT_FOUND." },
    })
    .post(
      "/:id/groups/:groupId/leave",
      async ({ session, params }) => {
        await sessions.groups.leave(session, params.groupId);
        return { success: true as const };
      },
      {
        session: { body: false },
        params: GroupParams,
        response: { 200: LeaveResponse, ...groupErrors },
        detail: { summary: "Leave the group", description: "The group is gone from the list; its chat and messages stay. 404 GROUP_NOT_FOUND for a group the account is not in." },
      },
    );
}
