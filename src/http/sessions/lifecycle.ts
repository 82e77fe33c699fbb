// A session's life: create, list, status, QR and pairing code to link it, its state changes,
// and the four commands (stop, start, delete, logout).
import QRCode from "qrcode";
import type { SessionRow } from "../../db/schema";
import { RateLimiter } from "../../limits";
import type { Sessions } from "../../sessions";
import { clientAddress } from "../client-address";
import { errors } from "../errors";
import {
  authErrors,
  CreateBody,
  CreateResponse,
  ErrorResponse,
  EventsResponse,
  ListResponse,
  MessageResponse,
  PairingCodeBody,
  PairingCodeResponse,
  QrQuery,
  QrResponse,
  StatusResponse,
  sandboxErrors,
} from "./models";
import { sessionsResource, type SessionsRoutesOptions } from "./resource";
import { validateMetadata } from "./metadata";
import { createdView, eventView, statusResponse, statusView } from "./views";
import { webhookCallbacks } from "./webhook-events";

const KEY_WARNING = "IMPORTANT: Save this API key securely! It will NOT be shown again.";

/** The four commands share one shape: act on the session, answer a message. */
const commands: {
  method: "POST" | "DELETE";
  path: string;
  summary: string;
  description: string;
  done: string;
  run: (sessions: Sessions, session: SessionRow) => Promise<void>;
}[] = [
  { method: "POST", path: "/:id/stop", summary: "Stop session", description: "Stops the container and keeps its data.", done: "Session stopped successfully", run: (s, row) => s.operations.stop(row) },
  { method: "POST", path: "/:id/start", summary: "Start session", description: "Starts a stopped, failed or logged-out session.", done: "Session started successfully", run: (s, row) => s.operations.start(row) },
  { method: "DELETE", path: "/:id", summary: "Delete session", description: "Removes the container, its data and the session. Irreversible.", done: "Session deleted successfully", run: (s, row) => s.operations.delete(row) },
  { method: "POST", path: "/:id/logout", summary: "Logout session", description: "Unlinks the device; a new QR is needed to link again.", done: "Session logged out successfully", run: (s, row) => s.operations.logout(row, s.requestTimeoutMs) },
];

export function lifecycleRoutes(opts: SessionsRoutesOptions) {
  const { sessions } = opts;
  const createLimiter = new RateLimiter(opts.createRateLimitPerMinute, 60_000);
  const app = sessionsResource(opts, "lifecycle")
    .post(
      "/create",
      async ({ body, set, caller, request }) => {
        validateMetadata(body.metadata);
        // Keyless creates are limited per client address; a create that fails costs nothing.
        const address = caller.kind === "admin" ? null : clientAddress(request, opts.trustProxy);
        if (address !== null && !createLimiter.take(address)) {
          throw errors.rateLimited(`At most ${opts.createRateLimitPerMinute} sessions a minute from one address`);
        }
        const { session, apiKey, webhookSecret } = await sessions.operations.create(body).catch((err) => {
          if (address !== null) createLimiter.refund(address);
          throw err;
        });
        set.status = 201;
        return { success: true as const, session: createdView(session), apiKey, warning: KEY_WARNING, webhookSecret };
      },
      {
        auth: { role: "create", body: true },
        body: CreateBody,
        response: { 201: CreateResponse, 413: ErrorResponse, 415: ErrorResponse, ...authErrors },
        detail: {
          summary: "Create session",
          callbacks: webhookCallbacks,
          description: "Creates a session and returns its API key once. Answers at once in `starting`; its container is made right after, in turn with other new sessions (SANDBOX_CREATE_CONCURRENCY), and a container Podman refuses moves the session to `failed` with the reason. Requires the admin key unless OPEN_SESSION_CREATE=true.",
        },
      },
    )
    .get("", async () => ({ success: true as const, sessions: (await sessions.queries.list()).map(statusView) }), {
      auth: { role: "admin" },
      response: { 200: ListResponse, ...authErrors },
      detail: { summary: "List all sessions", description: "Requires the admin key." },
    })
    // The :id routes take the id as a string (the session macro checks it); routes with more
    // path parameters declare them all. (No `guard({ params })` here: Elysia then reports the
    // guard's schema as the route's, and the document would lose the routes' own parameters.)
    .get("/:id/status", ({ session }) => statusResponse(session), {
      session: { body: false },
      response: { 200: StatusResponse, ...authErrors },
      detail: { summary: "Get session status" },
    })
    .get(
      "/:id/qr",
      async ({ session, request }) => {
        const qr = sessions.queries.qr(session);
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
        session: { body: false },
        query: QrQuery,
        response: { 200: QrResponse, ...authErrors },
        detail: {
          summary: "Get QR code",
          description: "The latest QR while the session is qr_ready. `?format=png` or `Accept: image/png` answers a PNG image.",
        },
      },
    )
    .post(
      "/:id/pairing-code",
      async ({ session, body }) => ({ success: true as const, code: await sessions.calls.pairingCode(session, body.phoneNumber) }),
      {
        session: { body: true },
        body: PairingCodeBody,
        response: { 200: PairingCodeResponse, 413: ErrorResponse, 415: ErrorResponse, ...sandboxErrors, ...authErrors },
        detail: {
          summary: "Link by phone number",
          description: "Answers the 8-character code to enter on the phone (Linked devices > Link with phone number) while the session is qr_ready.",
        },
      },
    )
    .get("/:id/events", async ({ session }) => ({ success: true as const, events: (await sessions.queries.events(session)).map(eventView) }), {
      session: { body: false },
      response: { 200: EventsResponse, ...authErrors },
      detail: {
        summary: "Get state changes",
        description: "The session's last 100 state changes with their reasons, newest first: why it failed, disconnected or logged out.",
      },
    });

  for (const c of commands) {
    app.route(
      c.method,
      c.path,
      (async ({ session }: { session: SessionRow }) => {
        await c.run(sessions, session);
        return { success: true as const, message: c.done };
      }) as never,
      {
        session: { body: false },
        response: { 200: MessageResponse, ...sandboxErrors, ...authErrors },
        detail: { summary: c.summary, description: c.description },
      } as never,
    );
  }
  return app;
}
