// Authentication as an Elysia plugin: the `auth` macro says who may call a route, the `session`
// macro hands the route the session it acts on. The key is checked in the parse step, before
// any body is read, so a request without a valid key gets 401 whatever its body looks like.
import { Elysia } from "elysia";
import type { Caller, Callers } from "../auth/callers";
import type { SessionRow } from "../db/schema";
import type { SessionQueries } from "../sessions/queries";
import { ApiError, errors } from "./errors";
import { isFormRequest, readFormBody } from "./form-body";
import { readJsonBody } from "./json-body";
import { readJsonMediaBody } from "./json-media-body";
import { Forwarded, type NodeForwarder } from "../nodes/forward";

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
  /** MEDIA_MAX_BYTES: what a body with a file may hold. */
  mediaMaxBytes: number;
  /** Where a form's file part is written (the media store's file system). */
  uploadDir?: string;
  /** Several nodes: a call that needs another node's sandbox is answered by that node. */
  forwarder?: NodeForwarder | null;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function authPlugin(opts: AuthOptions) {
  // Base64 takes 4 bytes for 3, plus the message's other fields.
  const mediaBodyLimit = Math.ceil(opts.mediaMaxBytes / 3) * 4 + 256 * 1024;
  const mediaTooLarge = () => new ApiError(413, "MEDIA_TOO_LARGE", `The file is larger than MEDIA_MAX_BYTES (${opts.mediaMaxBytes} bytes)`);
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
  // The caller of one request, found once: by the parse step (before a body is read) or by resolve.
  const callers = new WeakMap<Request, Promise<Caller>>();
  const callerOf = (request: Request, role: Role): Promise<Caller> => {
    let caller = callers.get(request);
    if (!caller) callers.set(request, (caller = identify(request, role)));
    return caller;
  };

  /** The session a route acts on: a session key reaches only its own (403 otherwise, whether or not the id exists). */
  const sessionFor = async (caller: Caller, rawId: string | null | undefined): Promise<SessionRow> => {
    // Ids are UUIDs: case does not matter, for any key. The router gives null for a broken
    // percent-escape (`%ZZ`): no session has that id.
    const id = (rawId ?? "").toLowerCase();
    if (caller.kind === "session") {
      if (caller.session.id !== id) throw errors.forbidden("another session");
      return opts.queries.touch(caller.session);
    }
    if (caller.kind !== "admin") throw errors.forbidden("this session");
    if (!uuidPattern.test(id)) throw errors.notFound(rawId ?? "");
    return opts.queries.touch(await opts.queries.get(id));
  };

  /**
   * The session of a call, once; a call that the owner node must answer goes there before its
   * body is read (Forwarded carries the answer).
   */
  const sessions = new WeakMap<Request, Promise<SessionRow>>();
  const sessionOf = (request: Request, rawId: string | null | undefined): Promise<SessionRow> => {
    let found = sessions.get(request);
    if (!found) {
      found = (async () => {
        const forwarder = opts.forwarder;
        if (forwarder && !(await forwarder.accepts(request))) throw errors.invalidKey();
        const session = await sessionFor(await callerOf(request, "any"), rawId);
        if (forwarder?.goesToOwner(request, session.node)) throw new Forwarded(await forwarder.forward(request, session.node!));
        return session;
      })();
      sessions.set(request, found);
    }
    return found;
  };

  return new Elysia({ name: "auth" }).macro({
    // Hooks take only what they use (destructured): Elysia then builds no headers, query or
    // cookie objects for a request, which is most of the cost of a small route.
    auth: (rule: AuthRule) => ({
      ...(rule.body ? { parse: async ({ request }: { request: Request }) => (await callerOf(request, rule.role), readJsonBody(request)) } : {}),
      resolve: async ({ request }: { request: Request }) => ({ caller: await callerOf(request, rule.role) }),
    }),
    // `media`: the body may carry a file as base64 (up to MEDIA_MAX_BYTES once decoded), or be a
    // multipart/form-data form with a `file` part.
    session: (rule: { body?: boolean; media?: boolean }) => ({
      ...(rule.body
        ? {
            parse: async ({ request, params }: { request: Request; params: Record<string, string> }) => {
              // Several nodes: a call for another node's sandbox goes there before its body is read.
              if (opts.forwarder) await sessionOf(request, params.id);
              else await callerOf(request, "any");
              // A form's file goes to a temporary file as it streams (form-body.ts); its text fields are the body.
              if (rule.media && isFormRequest(request)) return (await readFormBody(request, opts.mediaMaxBytes, mediaTooLarge, opts.uploadDir)).fields;
              // A JSON body's base64 file goes to a temporary file as it streams (json-media-body.ts).
              if (rule.media) return readJsonMediaBody(request, { fileLimit: opts.mediaMaxBytes, bodyLimit: mediaBodyLimit, fileTooLarge: mediaTooLarge, dir: opts.uploadDir });
              return readJsonBody(request);
            },
          }
        : {}),
      resolve: async ({ request, params }: { request: Request; params: Record<string, string> }) => ({
        session: await sessionOf(request, params.id),
        // Who called (known by now): a route that only the admin may use on a session checks it.
        caller: await callerOf(request, "any"),
      }),
    }),
  });
}
