// Operations routes: GET /ready (readiness: database, container engine, sandbox image; no key)
// and GET /metrics (Prometheus text; the admin key, or `Authorization: Bearer <METRICS_TOKEN>`).
// GET /health (liveness) stays in app.ts.
import { Elysia } from "elysia";
import { createHash, timingSafeEqual } from "node:crypto";
import type { Callers } from "../auth/callers";
import type { Database } from "../db/client";
import { describeError, type Logger } from "../log";
import type { Metrics } from "../metrics";
import type { GatewayClient } from "../egress/client";
import { RuntimeError, type SessionRuntime } from "../runtime/types";
import { ApiError, errorBody, errors } from "./errors";

export interface OpsDeps {
  database: Database;
  runtime: SessionRuntime;
  metrics: Metrics;
  callers: Callers;
  /** Bearer token that may read /metrics besides the admin key (16+ characters), if set. */
  metricsToken?: string;
  /** The egress gateway, when sandboxes go through one: /ready reports it, /metrics appends its own. */
  gateway?: GatewayClient | null;
  log: Logger;
}

export type Check = "ok" | "unavailable" | "missing";

export interface Readiness {
  database: Check;
  runtime: Check;
  image: Check;
  /** Absent when sandboxes do not go through the gateway. */
  egress?: Check;
}

/** Each check on its own, at once: one that fails does not hide the others. */
export async function readiness(database: Database, runtime: SessionRuntime, log: Logger, gateway?: GatewayClient | null): Promise<Readiness> {
  const [db, rt, egress] = await Promise.all([
    database.ping().catch(() => false),
    runtime.check().then(
      () => ({ runtime: "ok", image: "ok" }) as const,
      (err: unknown) => {
        if (err instanceof RuntimeError && err.code === "SANDBOX_IMAGE_MISSING") return { runtime: "ok", image: "missing" } as const;
        if (!(err instanceof RuntimeError && err.code === "RUNTIME_UNAVAILABLE")) log.warn("readiness: runtime check failed", { error: describeError(err) });
        // Without the engine the image cannot be looked at either.
        return { runtime: "unavailable", image: "unavailable" } as const;
      },
    ),
    gateway ? gateway.health().then((h) => (h.ok ? "ok" : "unavailable") as Check) : Promise.resolve(undefined),
  ]);
  return { database: db ? "ok" : "unavailable", ...rt, ...(egress ? { egress } : {}) };
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Constant-time in the token's content (both sides hashed to one length first). */
export function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

export function opsRoutes(deps: OpsDeps) {
  const { metrics, callers, metricsToken } = deps;

  const authorize = async (request: Request): Promise<void> => {
    const auth = request.headers.get("authorization");
    if (metricsToken && auth !== null) {
      const m = /^Bearer (.+)$/.exec(auth);
      if (m && tokenMatches(m[1]!, metricsToken)) return;
      if (request.headers.get("x-api-key") === null) throw new ApiError(401, "INVALID_API_KEY", "The metrics token is not valid");
    }
    const key = request.headers.get("x-api-key");
    if (!key) throw metricsToken ? new ApiError(401, "MISSING_API_KEY", "The X-API-Key header (admin key) or Authorization: Bearer <METRICS_TOKEN> is required") : errors.missingKey();
    const caller = await callers.identify(key);
    if (!caller) throw errors.invalidKey();
    if (caller.kind !== "admin") throw errors.forbidden("metrics (admin key required)");
  };

  return new Elysia({ name: "ops-routes" })
    .get(
      "/ready",
      async ({ set }) => {
        const r = await readiness(deps.database, deps.runtime, deps.log, deps.gateway);
        const ok = r.database === "ok" && r.runtime === "ok" && r.image === "ok" && (r.egress ?? "ok") === "ok";
        if (ok) return { success: true as const, ...r };
        set.status = 503;
        return { ...errorBody(new ApiError(503, "NOT_READY", "Not ready to serve sessions")), ...r };
      },
      {
        detail: {
          summary: "Readiness",
          description:
            'Whether the database answers, the container engine answers, the sandbox image exists and (where sandboxes go out through it) the egress gateway answers: 200 when all do, else 503 NOT_READY naming each ("ok", "unavailable", "missing"). No key needed.',
          tags: ["System"],
        },
      },
    )
    .get(
      "/metrics",
      async ({ request }) => {
        await authorize(request);
        // The gateway's own metrics follow the API's (one scrape; its names start wa_egress_).
        const egress = deps.gateway ? await deps.gateway.metrics() : "";
        return new Response((await metrics.text()) + egress, { headers: { "content-type": metrics.contentType } });
      },
      {
        detail: {
          summary: "Metrics",
          description: "Prometheus text format. The admin key (X-API-Key), or Authorization: Bearer <METRICS_TOKEN> when that is set.",
          tags: ["System"],
          security: [{ apiKey: [] }],
        },
      },
    );
}
