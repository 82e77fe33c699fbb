// The sessions routes of the contract, as one Elysia instance. Handlers only translate HTTP to
// the session domain and back; every rule lives in src/sessions.
import { Elysia, t } from "elysia";
import QRCode from "qrcode";
import type { SessionRow } from "../../db/schema";
import type { Sessions } from "../../sessions";
import { authPlugin, type AuthOptions } from "../auth";
import { clientAddress } from "../client-address";
import { errors } from "../errors";
import { jsonDepth } from "../json-body";
import { RateLimiter } from "../../limits";
import {
  authErrors,
  ChatsResponse,
  CheckNumberParams,
  CheckNumberResponse,
  ChatParams,
  MessageParams,
  MessageResultResponse,
  MessagesQuery,
  MessagesResponse,
  ReadResponse,
  SendBody,
  ContactsResponse,
  CreateBody,
  CreateResponse,
  DeliveriesQuery,
  DeliveriesResponse,
  DeliveryParams,
  DeliveryResponse,
  ErrorResponse,
  EventsResponse,
  ListResponse,
  MAX_METADATA_BYTES,
  MAX_METADATA_DEPTH,
  MessageResponse,
  PairingCodeBody,
  PairingCodeResponse,
  QrQuery,
  QrResponse,
  SessionPatchBody,
  SessionSettingsResponse,
  StatusResponse,
  WebhookSecretResponse,
} from "./models";
import { chatView, contactView, createdView, deliveryView, eventView, messageView, settingsView, statusResponse, statusView } from "./views";
import { webhookCallbacks } from "./webhook-events";

export type SessionsRoutesOptions = Omit<AuthOptions, "queries"> & {
  sessions: Sessions;
  createRateLimitPerMinute: number;
  trustProxy: boolean;
};

const KEY_WARNING = "IMPORTANT: Save this API key securely! It will NOT be shown again.";

/** What the schema cannot say of metadata (the webhook URL is the domain's to check: it resolves it). */
function validateMetadata(metadata: Record<string, unknown> | undefined): void {
  if (metadata === undefined) return;
  // Clients read metadata back from GET /sessions: a deep object there would break them.
  if (jsonDepth(metadata, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH) {
    throw errors.validation("metadata", `must nest at most ${MAX_METADATA_DEPTH} levels`);
  }
  if (Buffer.byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES) {
    throw errors.validation("metadata", `must be at most ${MAX_METADATA_BYTES} bytes of JSON`);
  }
  if (!storableText(metadata)) throw errors.validation("metadata", "keys and strings must not hold NUL characters or lone surrogates");
}

/** Whether every key and string in a JSON value is text PostgreSQL's jsonb takes. */
function storableText(value: unknown): boolean {
  if (typeof value === "string") return !value.includes("\u0000") && value.isWellFormed();
  if (Array.isArray(value)) return value.every(storableText);
  if (value !== null && typeof value === "object") return Object.entries(value).every(([k, v]) => storableText(k) && storableText(v));
  return true;
}

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

export function sessionsRoutes(opts: SessionsRoutesOptions) {
  const { sessions } = opts;
  const createLimiter = new RateLimiter(opts.createRateLimitPerMinute, 60_000);
  const app = new Elysia({
    name: "sessions",
    prefix: "/sessions",
    // Unknown body fields are refused with a 400 naming them, not silently dropped.
    normalize: false,
  })
    .use(authPlugin({ ...opts, queries: sessions.queries }))
    .guard({ detail: { tags: ["Sessions"], security: [{ apiKey: [] }] } })
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
        response: { 200: PairingCodeResponse, 413: ErrorResponse, 415: ErrorResponse, 502: ErrorResponse, 504: ErrorResponse, ...authErrors },
        detail: {
          summary: "Link by phone number",
          description: "Answers the 8-character code to enter on the phone (Linked devices > Link with phone number) while the session is qr_ready.",
        },
      },
    )
    .get(
      "/:id/check-number/:phone",
      async ({ session, params }) => {
        const result = await sessions.calls.checkNumber(session, params.phone);
        return { success: true as const, exists: result.exists, jid: result.jid };
      },
      {
        session: { body: false },
        params: CheckNumberParams,
        response: { 200: CheckNumberResponse, 502: ErrorResponse, 504: ErrorResponse, ...authErrors },
        detail: { summary: "Check number exists" },
      },
    )
    .get("/:id/contacts", async ({ session }) => ({ success: true as const, contacts: (await sessions.queries.contacts(session)).map(contactView) }), {
      session: { body: false },
      response: { 200: ContactsResponse, ...authErrors },
      detail: { summary: "Get all contacts" },
    })
    .get("/:id/chats", async ({ session }) => ({ success: true as const, chats: (await sessions.queries.chats(session)).map(chatView) }), {
      session: { body: false },
      response: { 200: ChatsResponse, ...authErrors },
      detail: { summary: "Get all chats" },
    })
    .patch(
      "/:id",
      async ({ session, body }) => {
        validateMetadata(body.metadata);
        return { success: true as const, session: settingsView(await sessions.webhooks.update(session, body)) };
      },
      {
        session: { body: true },
        body: SessionPatchBody,
        response: { 200: SessionSettingsResponse, 413: ErrorResponse, 415: ErrorResponse, ...authErrors },
        detail: {
          summary: "Change a session's webhook or metadata",
          callbacks: webhookCallbacks,
          description:
            "Sets the webhook URL (at most 2,048 characters; null removes it; setting it again re-enables a webhook disabled by a 410 and sends deliveries waiting out a backoff now), the events it receives, and the metadata.",
        },
      },
    )
    .post("/:id/webhook/secret", async ({ session }) => ({ success: true as const, webhookSecret: await sessions.webhooks.rotateSecret(session) }), {
      session: { body: false },
      response: { 200: WebhookSecretResponse, ...authErrors },
      detail: {
        summary: "Rotate the webhook secret",
        description:
          "Answers the new secret once; deliveries from now on are signed with it, and those waiting out a backoff go now. Of rotations sent at the same time one wins; the others answer 409 CONFLICT.",
      },
    })
    .get(
      "/:id/webhook/deliveries",
      async ({ session, query }) => ({ success: true as const, deliveries: (await sessions.webhooks.deliveries(session, query.limit ?? 50)).map(deliveryView) }),
      {
        session: { body: false },
        query: DeliveriesQuery,
        response: { 200: DeliveriesResponse, ...authErrors },
        detail: { summary: "List webhook deliveries", description: "Newest first: pending, delivered, failed (retrying) or dead." },
      },
    )
    .post(
      "/:id/webhook/deliveries/:deliveryId/retry",
      async ({ session, params }) => ({ success: true as const, delivery: deliveryView(await sessions.webhooks.retry(session, params.deliveryId)) }),
      {
        session: { body: false },
        params: DeliveryParams,
        response: { 200: DeliveryResponse, ...authErrors },
        detail: { summary: "Send a dead delivery again", description: "Queues a dead delivery again with a fresh retry window." },
      },
    )
    .post(
      "/:id/messages",
      async ({ session, body, request, set }) => {
        const key = request.headers.get("idempotency-key");
        if (key !== null && !/^[\x21-\x7e]{1,255}$/.test(key)) throw errors.validation("Idempotency-Key", "must be 1 to 255 printable characters");
        const message = await sessions.messaging.send(session, body, key);
        set.status = 201;
        return { success: true as const, message: messageView(message) };
      },
      {
        session: { body: true },
        body: SendBody,
        headers: t.Object(
          { "idempotency-key": t.Optional(t.String({ description: "1 to 255 printable characters: the same key on this session within 24 hours answers the first message again" })) },
          { additionalProperties: true },
        ),
        response: { 201: MessageResultResponse, 413: ErrorResponse, 415: ErrorResponse, 422: ErrorResponse, ...authErrors },
        detail: {
          summary: "Send a text message",
          description:
            "Stored as pending before the sandbox sends it; answers once WhatsApp's server took it (sent), or after SANDBOX_REQUEST_TIMEOUT_MS with the status it has then. In `disconnected` it is queued until the reconnect. An `Idempotency-Key` header answers the first message again for 24 hours. At most SEND_PER_MINUTE a minute.",
        },
      },
    )
    .get("/:id/messages/:messageId", async ({ session, params }) => ({ success: true as const, message: messageView(await sessions.messaging.get(session, params.messageId)) }), {
      session: { body: false },
      params: MessageParams,
      response: { 200: MessageResultResponse, ...authErrors },
      detail: { summary: "Get a message", description: "One message with its current status." },
    })
    .get(
      "/:id/chats/:chatId/messages",
      async ({ session, params, query }) => {
        const page = await sessions.messaging.list(session, params.chatId, query.limit ?? 50, query.before);
        return { success: true as const, messages: page.messages.map(messageView), nextCursor: page.nextCursor };
      },
      {
        session: { body: false },
        params: ChatParams,
        query: MessagesQuery,
        response: { 200: MessagesResponse, ...authErrors },
        detail: { summary: "List a chat's messages", description: "Newest first, incoming and outgoing; `before` takes the `nextCursor` of the page before." },
      },
    )
    .post("/:id/chats/:chatId/read", async ({ session, params }) => ({ success: true as const, read: await sessions.messaging.markRead(session, params.chatId) }), {
      session: { body: false },
      params: ChatParams,
      response: { 200: ReadResponse, 502: ErrorResponse, 504: ErrorResponse, ...authErrors },
      detail: { summary: "Mark a chat read", description: "Sends read receipts for the chat's unread incoming messages and sets its unreadCount to 0." },
    })
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
        response: { 200: MessageResponse, 502: ErrorResponse, 504: ErrorResponse, ...authErrors },
        detail: { summary: c.summary, description: c.description },
      } as never,
    );
  }
  return app;
}
