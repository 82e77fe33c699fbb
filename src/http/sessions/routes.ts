// The sessions routes of the contract, as one Elysia instance. Handlers only translate HTTP to
// the service and back; every rule lives in SessionService.
import { Elysia } from "elysia";
import QRCode from "qrcode";
import type { SessionRow } from "../../db/schema";
import { Authenticator, authorizeSession, isUuid, requireAdmin, type Caller } from "../auth";
import { ApiError, errors } from "../errors";
import { readJsonBody } from "../json-body";
import { RateLimiter } from "../../sessions/rate-limit";
import type { SessionService } from "../../sessions/service";
import {
  authErrors,
  ChatsResponse,
  CheckNumberParams,
  CheckNumberResponse,
  ContactsResponse,
  CreateBody,
  CreateResponse,
  ErrorResponse,
  EventsResponse,
  ListResponse,
  MAX_METADATA_BYTES,
  MessageResponse,
  PairingCodeBody,
  PairingCodeResponse,
  QrQuery,
  QrResponse,
  SessionIdParams,
  StatusResponse,
} from "./models";

export interface SessionsModuleOptions {
  service: SessionService;
  auth: Authenticator;
  openSessionCreate: boolean;
  createRateLimitPerMinute: number;
}

const security = [{ apiKey: [] as string[] }];
const KEY_WARNING = "IMPORTANT: Save this API key securely! It will NOT be shown again.";

function summaryView(s: SessionRow) {
  return {
    id: s.id,
    name: s.name,
    state: s.state,
    phoneNumber: s.phoneNumber,
    createdAt: s.createdAt.toISOString(),
    metadata: s.metadata ?? null,
  };
}

function statusView(s: SessionRow) {
  return { ...summaryView(s), lastActivity: s.lastActivity.toISOString() };
}

function validateCreate(body: { webhookUrl?: string; metadata?: Record<string, unknown> }): void {
  if (body.webhookUrl !== undefined) {
    let url: URL | null = null;
    try {
      url = new URL(body.webhookUrl);
    } catch {}
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
      throw errors.validation("webhookUrl", "must be an http or https URL");
    }
  }
  if (body.metadata !== undefined) {
    if (Buffer.byteLength(JSON.stringify(body.metadata)) > MAX_METADATA_BYTES) {
      throw errors.validation("metadata", `must be at most ${MAX_METADATA_BYTES} bytes of JSON`);
    }
  }
}

export function sessionsModule(opts: SessionsModuleOptions) {
  const { service, auth } = opts;
  const createLimiter = new RateLimiter(opts.createRateLimitPerMinute, 60_000);
  // The caller is found before the body is read, so a request without a valid key gets 401
  // whatever its body looks like.
  const callers = new WeakMap<Request, Caller>();
  const callerOf = async (request: Request): Promise<Caller> => {
    let caller = callers.get(request);
    if (!caller) {
      caller = await auth.authenticate(request.headers.get("x-api-key"));
      callers.set(request, caller);
    }
    return caller;
  };

  /** The session a route acts on, with the 403/404 rules of the contract applied. */
  const sessionFor = async (caller: Caller, id: string): Promise<SessionRow> => {
    authorizeSession(caller, id);
    const row = caller.kind === "session" ? caller.session : isUuid(id) ? await service.get(id) : null;
    if (!row) throw errors.notFound(id);
    return service.touch(row);
  };

  return (
    new Elysia({
      name: "sessions",
      prefix: "/sessions",
      // Unknown body fields are refused with a 400 naming them, not silently dropped.
      normalize: false,
    })
      .derive({ as: "scoped" }, async ({ request }) => ({ caller: await callerOf(request) }))
      .post(
        "/create",
        async ({ body, set }) => {
          validateCreate(body);
          const { session, apiKey } = await service.create(body);
          set.status = 201;
          return {
            success: true as const,
            session: { id: session.id, name: session.name, state: session.state, createdAt: session.createdAt.toISOString() },
            apiKey,
            warning: KEY_WARNING,
          };
        },
        {
          parse: async ({ request, server }) => {
            if (opts.openSessionCreate && request.headers.get("x-api-key") === null) {
              // Self-service create: no key needed, but each address is rate-limited.
              callers.set(request, { kind: "anonymous" });
            }
            const caller = await callerOf(request);
            if (!opts.openSessionCreate) requireAdmin(caller, "session creation (admin key required)");
            if (caller.kind !== "admin") {
              const address = server?.requestIP(request)?.address ?? "unknown";
              if (!createLimiter.take(address)) {
                throw new ApiError(429, "RATE_LIMITED", `At most ${opts.createRateLimitPerMinute} sessions a minute from one address`);
              }
            }
            return readJsonBody(request);
          },
          body: CreateBody,
          response: { 201: CreateResponse, 413: ErrorResponse, 415: ErrorResponse, ...authErrors },
          detail: {
            summary: "Create session",
            description:
              "Creates a session and its container and returns its API key once. Requires the admin key unless OPEN_SESSION_CREATE=true.",
            tags: ["Sessions"],
            security,
          },
        },
      )
      .get(
        "",
        async ({ caller }) => {
          requireAdmin(caller, "the list of sessions (admin key required)");
          return { success: true as const, sessions: (await service.list()).map(summaryView) };
        },
        {
          response: { 200: ListResponse, ...authErrors },
          detail: { summary: "List all sessions", description: "Requires the admin key.", tags: ["Sessions"], security },
        },
      )
      .get(
        "/:id/status",
        async ({ caller, params }) => ({ success: true as const, session: statusView(await sessionFor(caller, params.id)) }),
        {
          params: SessionIdParams,
          response: { 200: StatusResponse, ...authErrors },
          detail: { summary: "Get session status", tags: ["Sessions"], security },
        },
      )
      .get(
        "/:id/qr",
        async ({ caller, params, request }) => {
          const qr = service.qr(await sessionFor(caller, params.id));
          // The raw parameter: Elysia fills an absent enum query value with its first member.
          const format = new URL(request.url).searchParams.get("format");
          const wantsPng = format === "png" || (format === null && /\bimage\/png\b/.test(request.headers.get("accept") ?? ""));
          if (wantsPng) {
            const png = await QRCode.toBuffer(qr, { type: "png", errorCorrectionLevel: "M", margin: 2, scale: 6 });
            const image = new Response(new Uint8Array(png), { headers: { "content-type": "image/png", "cache-control": "no-store" } });
            // A Response passes through untouched; the JSON schema documents the default answer.
            return image as unknown as { success: true; qr: string };
          }
          return { success: true as const, qr };
        },
        {
          params: SessionIdParams,
          query: QrQuery,
          response: { 200: QrResponse, ...authErrors },
          detail: {
            summary: "Get QR code",
            description: "The latest QR while the session is qr_ready. `?format=png` or `Accept: image/png` answers a PNG image.",
            tags: ["Sessions"],
            security,
          },
        },
      )
      .post(
        "/:id/pairing-code",
        async ({ caller, params, body }) => {
          const session = await sessionFor(caller, params.id);
          return { success: true as const, code: await service.pairingCode(session, body.phoneNumber) };
        },
        {
          parse: ({ request }) => callerOf(request).then(() => readJsonBody(request)),
          params: SessionIdParams,
          body: PairingCodeBody,
          response: { 200: PairingCodeResponse, 413: ErrorResponse, 415: ErrorResponse, 504: ErrorResponse, ...authErrors },
          detail: {
            summary: "Link by phone number",
            description: "Answers the 8-character code to enter on the phone (Linked devices > Link with phone number) while the session is qr_ready.",
            tags: ["Sessions"],
            security,
          },
        },
      )
      .post(
        "/:id/stop",
        async ({ caller, params }) => {
          await sessionFor(caller, params.id);
          await service.stop(params.id);
          return { success: true as const, message: "Session stopped successfully" };
        },
        {
          parse: "none",
          params: SessionIdParams,
          response: { 200: MessageResponse, ...authErrors },
          detail: { summary: "Stop session", description: "Stops the container and keeps its data.", tags: ["Sessions"], security },
        },
      )
      .post(
        "/:id/start",
        async ({ caller, params }) => {
          await sessionFor(caller, params.id);
          await service.start(params.id);
          return { success: true as const, message: "Session started successfully" };
        },
        {
          parse: "none",
          params: SessionIdParams,
          response: { 200: MessageResponse, ...authErrors },
          detail: { summary: "Start session", description: "Starts a stopped, failed or logged-out session.", tags: ["Sessions"], security },
        },
      )
      .delete(
        "/:id",
        async ({ caller, params }) => {
          await sessionFor(caller, params.id);
          await service.delete(params.id);
          return { success: true as const, message: "Session deleted successfully" };
        },
        {
          parse: "none",
          params: SessionIdParams,
          response: { 200: MessageResponse, ...authErrors },
          detail: { summary: "Delete session", description: "Removes the container, its data and the session. Irreversible.", tags: ["Sessions"], security },
        },
      )
      .post(
        "/:id/logout",
        async ({ caller, params }) => {
          await sessionFor(caller, params.id);
          await service.logout(params.id);
          return { success: true as const, message: "Session logged out successfully" };
        },
        {
          parse: "none",
          params: SessionIdParams,
          response: { 200: MessageResponse, 504: ErrorResponse, ...authErrors },
          detail: { summary: "Logout session", description: "Unlinks the device; a new QR is needed to link again.", tags: ["Sessions"], security },
        },
      )
      .get(
        "/:id/check-number/:phone",
        async ({ caller, params }) => {
          const result = await service.checkNumber(await sessionFor(caller, params.id), params.phone);
          return { success: true as const, exists: result.exists, jid: result.jid };
        },
        {
          params: CheckNumberParams,
          response: { 200: CheckNumberResponse, 502: ErrorResponse, 504: ErrorResponse, ...authErrors },
          detail: { summary: "Check number exists", tags: ["Sessions"], security },
        },
      )
      .get(
        "/:id/contacts",
        async ({ caller, params }) => {
          const session = await sessionFor(caller, params.id);
          const rows = await service.contacts(session.id);
          return {
            success: true as const,
            contacts: rows.map((c) => ({ id: c.id, name: c.name, notify: c.notify, verifiedName: c.verifiedName, phone: c.phone })),
          };
        },
        {
          params: SessionIdParams,
          response: { 200: ContactsResponse, ...authErrors },
          detail: { summary: "Get all contacts", tags: ["Sessions"], security },
        },
      )
      .get(
        "/:id/chats",
        async ({ caller, params }) => {
          const session = await sessionFor(caller, params.id);
          const rows = await service.chats(session.id);
          return {
            success: true as const,
            chats: rows.map((c) => ({ id: c.id, name: c.name, isGroup: c.isGroup, unreadCount: c.unreadCount, timestamp: c.timestamp })),
          };
        },
        {
          params: SessionIdParams,
          response: { 200: ChatsResponse, ...authErrors },
          detail: { summary: "Get all chats", tags: ["Sessions"], security },
        },
      )
      .get(
        "/:id/events",
        async ({ caller, params }) => {
          const session = await sessionFor(caller, params.id);
          const rows = await service.events(session.id);
          return {
            success: true as const,
            events: rows.map((e) => ({ from: e.fromState, to: e.toState, reason: e.reason, at: e.at.toISOString() })),
          };
        },
        {
          params: SessionIdParams,
          response: { 200: EventsResponse, ...authErrors },
          detail: {
            summary: "Get state changes",
            description: "The session's last 100 state changes with their reasons, newest first: why it failed, disconnected or logged out.",
            tags: ["Sessions"],
            security,
          },
        },
      )
  );
}
