// Authentication as an Elysia plugin: the `auth` macro says who may call a route, the `session`
// macro hands the route the session it acts on. The key is checked in the parse step, before
// any body is read, so a request without a valid key gets 401 whatever its body looks like.
import { Elysia } from "elysia";
import type { Caller, Callers } from "../auth/callers";
import type { SessionRow } from "../db/schema";
import type { SessionQueries } from "../sessions/queries";
import { errors } from "./errors";
import { readJsonBody } from "./json-body";

/** admin: the admin key; any: admin or a session key; create: the create route's own rule. */
export type Role = "admin" | "any" | "create";

export interface AuthRule {
  role: Role;
  /** The route takes a JSON body, read only after the key passed. */
  body?: boolean;
}

export interface AuthOptions {
  callers: Callers;
  queries: SessionQueries;
  openSessionCreate: boolean;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Where the caller of one request is kept between the parse and resolve steps. */
const CALLER = Symbol("caller");
type Ctx = { request: Request; [CALLER]?: Promise<Caller> };

export function authPlugin(opts: AuthOptions) {
  const identify = async (request: Request, role: Role): Promise<Caller> => {
    const key = request.headers.get("x-api-key");
    if (role === "create" && opts.openSessionCreate && key === null) {
      // Self-service create: no key needed, but each address is rate-limited (the create route).
      return { kind: "anonymous" };
    }
    if (!key) throw errors.missingKey();
    const caller = await opts.callers.identify(key);
    if (!caller) throw errors.invalidKey();
    if (role === "admin" || (role === "create" && !opts.openSessionCreate)) {
      if (caller.kind !== "admin") throw errors.forbidden(role === "admin" ? "this route (admin key required)" : "session creation (admin key required)");
    }
    return caller;
  };
  const callerOf = (ctx: Ctx, role: Role): Promise<Caller> => (ctx[CALLER] ??= identify(ctx.request, role));

  /** The session a route acts on: a session key reaches only its own (403 otherwise, whether or not the id exists). */
  const sessionFor = async (caller: Caller, rawId: string): Promise<SessionRow> => {
    const id = rawId.toLowerCase(); // ids are UUIDs: case does not matter, for any key
    if (caller.kind === "session") {
      if (caller.session.id !== id) throw errors.forbidden("another session");
      return opts.queries.touch(caller.session);
    }
    if (caller.kind !== "admin") throw errors.forbidden("this session");
    if (!uuidPattern.test(id)) throw errors.notFound(rawId);
    return opts.queries.touch(await opts.queries.get(id));
  };

  return new Elysia({ name: "auth" }).macro({
    auth: (rule: AuthRule) => ({
      ...(rule.body ? { parse: async (ctx: Ctx) => (await callerOf(ctx, rule.role), readJsonBody(ctx.request)) } : {}),
      resolve: async (ctx: Ctx) => ({ caller: await callerOf(ctx, rule.role) }),
    }),
    session: (rule: { body?: boolean }) => ({
      ...(rule.body ? { parse: async (ctx: Ctx) => (await callerOf(ctx, "any"), readJsonBody(ctx.request)) } : {}),
      resolve: async (ctx: Ctx & { params: Record<string, string> }) => ({ session: await sessionFor(await callerOf(ctx, "any"), ctx.params.id!) }),
    }),
  });
}
