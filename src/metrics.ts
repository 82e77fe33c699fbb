// Prometheus metrics: one registry of this API's own (never prom-client's global one, so two APIs
// in one process, as in tests, never share counts) and the few calls the rest of the code makes.
// Counters and histograms are fed as things happen; gauges that mirror stored state (sessions by
// state, running containers, connected channels, the webhook outbox) are read at scrape time.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { SandboxLink } from "./channel/link";
import { HttpMetrics } from "./http-metrics";
import type { Logger } from "./log";

/** What the gauges are read from at each scrape. Each may fail; the others are still served. */
export interface MetricsSources {
  sessionsByState(): Promise<Record<string, number>>;
  /** Throws when the container engine does not answer. */
  runningSandboxes(): Promise<number>;
  connectedChannels(): number;
  deliveriesByStatus(): Promise<Record<string, number>>;
}

export interface MetricsOptions {
  sources: MetricsSources;
  log: Logger;
  /** Every value the session-state gauge shows, 0 when no session is in it. */
  sessionStates: readonly string[];
  deliveryStatuses: readonly string[];
}

/** Route label of requests that matched no route: raw paths would make one series per scanner probe. */
export const UNMATCHED_ROUTE = "unmatched";

const PREFIX = "wa_";

export class Metrics {
  readonly registry = new Registry();
  private readonly http: HttpMetrics;
  private readonly reports: Counter<"type" | "outcome">;
  private readonly sandboxRequests: Histogram<"type" | "outcome">;
  private readonly webhookAttempts: Counter<"outcome">;

  constructor(opts: MetricsOptions) {
    const registers = [this.registry];
    const { sources, log } = opts;
    const failed = (what: string) => (err: unknown) => {
      log.warn("metric not collected", { metric: what, error: err });
    };
    this.http = new HttpMetrics(this.registry, { requests: `${PREFIX}http_requests_total`, duration: `${PREFIX}http_request_duration_seconds` }, [
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
    ]);
    this.reports = new Counter({
      name: `${PREFIX}sandbox_reports_total`,
      help: "Reports from sandboxes, by report type; outcome stored, or refused (not the current launch, or a state that does not take it)",
      labelNames: ["type", "outcome"],
      registers,
    });
    this.sandboxRequests = new Histogram({
      name: `${PREFIX}sandbox_request_duration_seconds`,
      help: "Requests the API sent to sandboxes over the channel, by request type and outcome (ok, or the error's name)",
      labelNames: ["type", "outcome"],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.webhookAttempts = new Counter({
      name: `${PREFIX}webhook_attempts_total`,
      help: "Webhook delivery attempts, by outcome (delivered, failed and retried later, dead)",
      labelNames: ["outcome"],
      registers,
    });
    new Gauge({
      name: `${PREFIX}sessions`,
      help: "Sessions by state, from the database at scrape",
      labelNames: ["state"],
      registers,
      async collect() {
        this.reset();
        try {
          const counts = await sources.sessionsByState();
          for (const state of new Set([...opts.sessionStates, ...Object.keys(counts)])) this.set({ state }, counts[state] ?? 0);
        } catch (err) {
          failed("sessions")(err);
        }
      },
    });
    const runtimeUp = new Gauge({ name: `${PREFIX}runtime_up`, help: "1 when the container engine answered at scrape, else 0", registers });
    new Gauge({
      name: `${PREFIX}sandbox_containers_running`,
      help: "Running session containers of this API instance, from the container engine at scrape (absent when it does not answer)",
      registers,
      async collect() {
        this.reset();
        try {
          this.set(await sources.runningSandboxes());
          runtimeUp.set(1);
        } catch {
          runtimeUp.set(0);
        }
      },
    });
    new Gauge({
      name: `${PREFIX}channel_connections`,
      help: "Sandboxes connected to the channel now",
      registers,
      collect() {
        this.set(sources.connectedChannels());
      },
    });
    new Gauge({
      name: `${PREFIX}webhook_deliveries`,
      help: "Webhook outbox rows by status (pending, failed, dead, delivered and not yet pruned), from the database at scrape",
      labelNames: ["status"],
      registers,
      async collect() {
        this.reset();
        try {
          const counts = await sources.deliveriesByStatus();
          for (const status of new Set([...opts.deliveryStatuses, ...Object.keys(counts)])) this.set({ status }, counts[status] ?? 0);
        } catch (err) {
          failed("webhook_deliveries")(err);
        }
      },
    });
  }

  /** One answered HTTP request; `route` is the matched template (undefined when none matched). */
  httpRequest(method: string, route: string | undefined, status: number, seconds: number): void {
    this.http.record(method, route || UNMATCHED_ROUTE, status, seconds);
  }

  report(type: string, stored: boolean): void {
    this.reports.inc({ type, outcome: stored ? "stored" : "refused" });
  }

  webhookAttempt(outcome: string): void {
    this.webhookAttempts.inc({ outcome });
  }

  /** The link with every request timed; the rest passes through. */
  timedLink(link: SandboxLink): SandboxLink {
    const histogram = this.sandboxRequests;
    return {
      isConnected: (sessionId) => link.isConnected(sessionId),
      waitForConnection: (sessionId, timeoutMs) => link.waitForConnection(sessionId, timeoutMs),
      disconnect: (sessionId) => link.disconnect(sessionId),
      async request(sessionId, req, timeoutMs) {
        const end = histogram.startTimer({ type: req.type });
        try {
          const answer = await link.request(sessionId, req, timeoutMs);
          end({ outcome: "ok" });
          return answer;
        } catch (err) {
          end({ outcome: err instanceof Error ? err.name : "error" });
          throw err;
        }
      },
    };
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
