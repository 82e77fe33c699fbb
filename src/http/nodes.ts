// The nodes sharing the database (admin): GET /nodes, and POST /nodes/{nodeId}/drain, which
// moves every session off a node for maintenance and leaves it `draining`.
import { Elysia, t } from "elysia";
import type { NodeView } from "../db/node-repository";
import type { NodeRegistry } from "../nodes/registry";
import { authPlugin, type AuthOptions } from "./auth";
import { authErrors } from "./sessions/models";
import { ApiError } from "./errors";
import type { Sessions } from "../sessions";

const NodeShape = t.Object({
  id: t.String(),
  url: t.String({ description: "Where the other nodes reach this node's API (NODE_URL)" }),
  capacity: t.Integer({ description: "Sessions it may run (NODE_CAPACITY)" }),
  sessions: t.Integer({ description: "Sessions it owns, whatever their state" }),
  state: t.UnionEnum(["live", "draining", "dead"], { description: "dead: not seen for NODE_DEAD_SECONDS (its sessions move to live nodes)" }),
  lastSeen: t.String({ format: "date-time", description: "Its last heartbeat" }),
});

const nodeView = (n: NodeView) => ({ id: n.id, url: n.url, capacity: n.capacity, sessions: n.sessions, state: n.state, lastSeen: n.lastSeen.toISOString() });

export function nodesRoutes(opts: Pick<AuthOptions, "callers" | "queries" | "openSessionCreate" | "mediaMaxBytes"> & { registry: NodeRegistry; sessions: Sessions }) {
  const { registry } = opts;
  return new Elysia({ name: "nodes", prefix: "/nodes" })
    .use(authPlugin(opts))
    .guard({ detail: { tags: ["Nodes"], security: [{ apiKey: [] }] } })
    .get("", async () => ({ success: true as const, nodes: (await registry.list()).map(nodeView) }), {
      auth: { role: "admin" },
      response: { 200: t.Object({ success: t.Literal(true), nodes: t.Array(NodeShape) }), ...authErrors },
      detail: {
        summary: "List nodes",
        description: "The API processes sharing this database, each with its own Podman: their capacity, how many sessions each owns, and whether it is live, draining or dead. Requires the admin key.",
      },
    })
    .post(
      "/:nodeId/drain",
      async ({ params }) => {
        // One node alone (PGlite) has nowhere to move its sessions: draining it would only refuse every create.
        if (!opts.sessions.handovers) throw new ApiError(409, "NODE_UNAVAILABLE", "This API runs as one node alone (PGlite): there is no other node to drain to");
        if (!(await registry.setState(params.nodeId, "draining"))) throw new ApiError(404, "NODE_NOT_FOUND", `No node "${params.nodeId.slice(0, 64)}"`);
        // setState read the nodes again.
        const node = registry.nodes.find((n) => n.id === params.nodeId)!;
        return { success: true as const, node: nodeView(node) };
      },
      {
        auth: { role: "admin" },
        params: t.Object({ nodeId: t.String({ minLength: 1, maxLength: 64, pattern: "^[a-zA-Z0-9_.-]+$", description: "A node's id (GET /nodes)" }) }),
        response: { 200: t.Object({ success: t.Literal(true), node: NodeShape }), ...authErrors },
        detail: {
          summary: "Drain a node",
          description:
            "Marks the node `draining` (404 NODE_NOT_FOUND for an unknown id; 409 NODE_UNAVAILABLE for one node alone on PGlite): it takes no new session, and moves each of its sessions to the live node with the most free places, a few at a time (each shows `disconnected` with the move as its reason, and reconnects there without a new QR). It stays draining until it is started again. Requires the admin key.",
        },
      },
    );
}
