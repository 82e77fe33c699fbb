// Where a session runs: POST /sessions/{id}/move (admin) hands it to another node.
import { t } from "elysia";
import { errors } from "../errors";
import { authErrors, StatusResponse } from "./models";
import { sessionsResource, type SessionsRoutesOptions } from "./resource";
import { statusView } from "./views";
import { SessionError } from "../../sessions/errors";

const MoveBody = t.Object({ node: t.String({ minLength: 1, maxLength: 64, pattern: "^[a-zA-Z0-9_.-]+$", description: "The id of a live node with room (GET /nodes)" }) }, { additionalProperties: false });

export function placementRoutes(opts: SessionsRoutesOptions) {
  const { sessions } = opts;
  return sessionsResource(opts, "placement").post(
    "/:id/move",
    async ({ session, caller, body }) => {
      if (caller.kind !== "admin") throw errors.forbidden("moving a session (admin key required)");
      if (!sessions.handovers) throw new SessionError("NODE_UNAVAILABLE", "This API runs as one node alone (PGlite): there is no other node to move to", { node: body.node });
      return { success: true as const, session: statusView(await sessions.handovers.moveSession(session, body.node)) };
    },
    {
      session: { body: true },
      body: MoveBody,
      response: { 200: StatusResponse, ...authErrors },
      detail: {
        summary: "Move a session to another node",
        description:
          "Stops the session's sandbox on its node (its last reports, its auth state among them, reach the database first) and hands it to `node`, which starts it from the mirrored auth state: no new QR. Answers at once with the session `disconnected`, its reason naming the move; it is `ready` again once it reconnects there. 404 NODE_NOT_FOUND, 409 NODE_UNAVAILABLE when that node is draining, dead or full. Requires the admin key.",
      },
    },
  );
}
