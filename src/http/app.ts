// The HTTP application: error shape, request logs, health, Swagger UI, the OpenAPI document and
// the sessions routes.
// It is a plain Elysia instance whose `fetch` takes a Web Request, so it is runtime-neutral;
// starting a server is api.ts's business (through src/platform/serve.ts).
import { Elysia, t } from "elysia";
import { randomUUID } from "node:crypto";
import { apiLoad } from "../api-load";
import { packageVersion } from "../config";
import type { Database } from "../db/client";
import { isDatabaseUnavailable, isUnstorableText } from "../db/errors";
import { describeError, type Logger } from "../log";
import { excerpt } from "../sessions/errors";
import { ApiError, errorBody, errors, toApiError } from "./errors";
import { carryAddress } from "./client-address";
import { dashboard } from "./dashboard";
import type { EventStreams } from "./event-stream";
import { opsRoutes, type OpsDeps } from "./ops-routes";
import { openApi } from "./openapi";
import { SESSION_ID_DESCRIPTION } from "./sessions/models";
import { sessionsRoutes, type SessionsRoutesOptions } from "./sessions";
import { swaggerUi } from "./swagger-ui";
import { Forwarded } from "../nodes/forward";
import type { NodeRegistry } from "../nodes/registry";
import { nodesRoutes } from "./nodes";

export interface AppDeps extends SessionsRoutesOptions {
  database: Database;
  log: Logger;
  /** GET /ready and GET /metrics, and HTTP request metrics. */
  ops: Omit<OpsDeps, "database" | "log" | "callers">;
  /** GET /events, the live event stream (the dashboard at /dashboard reads it). */
  events: EventStreams;
  /** GET /nodes and a node's drain. */
  registry: NodeRegistry;
}

interface RequestInfo {
  id: string;
  start: number;
}

const HealthResponse = t.Object(
  { success: t.Boolean(), status: t.UnionEnum(["ok", "unavailable"]), database: t.UnionEnum(["postgres", "pglite"]) },
  { description: "Whether the database answers" },
);

export function createApp(deps: AppDeps) {
  const { log } = deps;
  const requests = new WeakMap<Request, RequestInfo>();
  // Request ids unique across restarts without a UUID per request: this process's id and a count.
  const bootId = randomUUID().slice(0, 8);
  let requestCount = 0;

  // normalize: false makes unknown body fields a 400 naming them rather than dropping them.
  const app = new Elysia({ normalize: false })
    .use(swaggerUi({ path: "/swagger", specUrl: "/swagger/json", title: "WhatsApp Session API" }))
    .onRequest(({ request }) => {
      if (!isEventStream(request.url)) apiLoad.lastRequestAt = performance.now();
      requests.set(request, { id: request.headers.get("x-request-id")?.slice(0, 64) || `${bootId}-${(++requestCount).toString(36)}`, start: performance.now() });
    })
    .onError(({ code, error, set, request }) => {
      // Answered by the node that owns the session: its response as it is.
      // (From the parse step, Elysia's ParseError wraps it.)
      const forwarded = error instanceof Forwarded ? error : (error as { cause?: unknown }).cause;
      if (forwarded instanceof Forwarded) {
        // Elysia gives an error's answer the error's status (400 for a parse step's) unless told.
        set.status = forwarded.response.status;
        return forwarded.response;
      }
      let err =
        toApiError(error) ??
        // Errors thrown while parsing reach us wrapped in Elysia's ParseError.
        toApiError((error as { cause?: unknown }).cause) ??
        databaseUnavailable(error, (e) => log.error("database unavailable", { requestId: requests.get(request)?.id, error: describeError(e) })) ??
        unstorableText(error) ??
        elysiaError(code, error, request);
      if (!err) {
        log.error("unhandled error", { requestId: requests.get(request)?.id, error: describeError(error) });
        err = new ApiError(500, "INTERNAL_ERROR", "Internal server error");
      }
      set.status = err.status;
      set.headers["content-type"] = "application/json";
      return errorBody(err);
    })
    .onAfterResponse(({ request, set, route, responseValue }) => {
      const info = requests.get(request);
      if (!info) return;
      // ops: metrics by route template (never the raw path), status as answered.
      const answered = responseValue instanceof Response ? responseValue.status : typeof set.status === "number" ? set.status : 200;
      deps.ops.metrics.httpRequest(request.method, route, answered, (performance.now() - info.start) / 1000);
      if (!log.enabled("info")) return;
      log.info("request", {
        requestId: info.id,
        method: request.method,
        path: new URL(request.url).pathname,
        status: typeof set.status === "number" ? set.status : 200,
        durationMs: Math.round((performance.now() - info.start) * 100) / 100,
      });
    })
    .get(
      "/health",
      async ({ set }) => {
        const ok = await deps.database.ping();
        if (!ok) set.status = 503;
        return { success: ok, status: ok ? ("ok" as const) : ("unavailable" as const), database: deps.database.kind };
      },
      {
        response: { 200: HealthResponse, 503: HealthResponse },
        detail: { summary: "Health", description: "Whether the database answers (503 when it does not). No key needed.", tags: ["System"] },
      },
    )
    .use(opsRoutes({ ...deps.ops, database: deps.database, log, callers: deps.callers }))
    .use(sessionsRoutes(deps))
    .use(nodesRoutes({ ...deps, queries: deps.sessions.queries, mediaMaxBytes: deps.sessions.mediaMaxBytes }))
    .use(deps.events.routes())
    .use(dashboard());
  // Last, so the document sees every route (and its request gets an id and a log line).
  app.use(
    openApi({
      path: "/swagger/json",
      routes: () => app.routes,
      pathParameters: { id: SESSION_ID_DESCRIPTION },
      documentation: {
        info: {
          title: "WhatsApp Session API",
          version: packageVersion(),
          description: "Self-hosted WhatsApp sessions, each in its own rootless Podman container.",
        },
        tags: [{ name: "Sessions", description: "Create, run and query WhatsApp sessions" }, { name: "Nodes", description: "The API processes sharing one PostgreSQL" }, { name: "System" }],
        components: {
          securitySchemes: {
            apiKey: {
              type: "apiKey",
              in: "header",
              name: "X-API-Key",
              description: "A session key (wask_...) for that session's routes, or the admin key (wamk_...) for all.",
            },
          },
        },
      },
    }),
  );
  /**
   * Answers a request; the response carries the request's id. It is set here, on the response
   * made, rather than through Elysia's `set.headers`: those make Elysia copy every response
   * (body as a stream) to merge them in, which costs more than the status route itself.
   */
  const handle = async (received: Request): Promise<Response> => {
    const request = routable(received);
    const response = await app.handle(request);
    const info = requests.get(request);
    if (!info) return response;
    try {
      response.headers.set("x-request-id", info.id);
      return response;
    } catch {
      // Immutable headers (a response passed through as it came): answer a copy.
      const copy = new Response(response.body, response);
      copy.headers.set("x-request-id", info.id);
      return copy;
    }
  };
  return { app, handle };
}

/**
 * The request as Elysia can route it. Elysia looks for the path from the URL's 11th character
 * on, so with a Host shorter than four characters ("Host: x") it read part of the path as the
 * host and every route answered 404: such a request is routed under the name localhost.
 */
function routable(request: Request): Request {
  const url = request.url;
  const path = url.indexOf("/", url.indexOf("//") + 2);
  if (path >= 11) return request;
  const renamed = new Request(`http://localhost${path < 0 ? "/" : url.slice(path)}`, request);
  carryAddress(request, renamed);
  return renamed;
}

/** The live event stream stays open: it is not work in flight. */
function isEventStream(url: string): boolean {
  return url.split("?", 1)[0]!.endsWith("/events");
}

/** Clients should retry, not give up: 503, and the log says why (without query parameters). */
function databaseUnavailable(error: unknown, logIt: (error: unknown) => void): ApiError | null {
  if (!isDatabaseUnavailable(error)) return null;
  logIt(error);
  return new ApiError(503, "DATABASE_UNAVAILABLE", "The database is not reachable right now; try again shortly");
}

/** The last line for text the routes' checks let through that PostgreSQL cannot store (NUL): the client's mistake. */
function unstorableText(error: unknown): ApiError | null {
  if (!isUnstorableText(error)) return null;
  return new ApiError(400, "VALIDATION_ERROR", "The request holds text that cannot be stored (a NUL character)");
}

/** Elysia's own refusals in our shape; null for anything that is not a client's mistake. */
function elysiaError(code: string | number, error: unknown, request: Request): ApiError | null {
  if (code === "VALIDATION") return validationError(error, request);
  if (code === "PARSE") return new ApiError(400, "INVALID_JSON", "The request body could not be parsed");
  if (code === "NOT_FOUND") return new ApiError(404, "ROUTE_NOT_FOUND", "No such route");
  return null;
}

/** Names the first invalid field, as users fix one thing at a time; echoes no more than an excerpt of the input. */
function validationError(error: unknown, request: Request): ApiError {
  const e = error as { type?: string; value?: unknown; all?: { path?: string; message?: string; summary?: string }[] };
  const first = e.all?.[0];
  const field = first?.path?.replace(/^\//, "").replace(/\//g, ".") || unnamedField(e, request);
  const message = first?.summary || first?.message || "is invalid";
  return errors.validation(field, excerpt(message, 200));
}

/**
 * The field when Elysia names none: a query parameter it checks on its own (a number, a
 * boolean) comes as a "property" error with only its value, so the parameter holding that value.
 */
function unnamedField(e: { type?: string; value?: unknown }, request: Request): string {
  if (e.type === "property") {
    for (const [name, raw] of new URL(request.url).searchParams) {
      if (raw === String(e.value) || (typeof e.value === "number" && Number(raw) === e.value)) return name;
    }
    return "query";
  }
  return e.type === "query" || e.type === "params" || e.type === "headers" ? e.type : "body";
}

export type App = ReturnType<typeof createApp>["app"];
