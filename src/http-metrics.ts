// HTTP request counts and latencies for /metrics, kept in plain objects and formatted only at
// scrape. prom-client's labelled children hash and validate their labels on every call: on a
// status request that was about 7% of the API's CPU (bun --cpu-prof). These two metrics are
// registered with the same registry and come out in the same text format.
import type { Registry } from "prom-client";

interface Series {
  labels: Record<string, string>;
  count: number;
  sum: number;
  /** Observations at or below each bucket's bound (not yet cumulative). */
  buckets: number[];
}

interface Value {
  labels: Record<string, string>;
  value: number;
  metricName?: string;
}

/** A metric object as prom-client's Registry formats it. */
function metric(name: string, help: string, type: "counter" | "histogram", values: () => Value[]) {
  const describe = () => ({ name, help, type, aggregator: "sum" as const, values: values() });
  return { name, help, type, aggregator: "sum" as const, get: async () => describe(), reset() {} };
}

export class HttpMetrics {
  private readonly counts = new Map<string, Series>();
  private readonly durations = new Map<string, Series>();

  constructor(
    registry: Registry,
    names: { requests: string; duration: string },
    private readonly bounds: readonly number[],
  ) {
    registry.registerMetric(
      metric(names.requests, "HTTP requests answered, by method, route template and status", "counter", () =>
        [...this.counts.values()].map((s) => ({ labels: s.labels, value: s.count })),
      ) as never,
    );
    registry.registerMetric(
      metric(names.duration, "Time from receiving an HTTP request to its answer, by method and route template", "histogram", () =>
        [...this.durations.values()].flatMap((s) => this.histogramValues(names.duration, s)),
      ) as never,
    );
  }

  record(method: string, route: string, status: number, seconds: number): void {
    const countKey = `${method} ${route} ${status}`;
    let count = this.counts.get(countKey);
    if (!count) {
      count = { labels: { method, route, status: String(status) }, count: 0, sum: 0, buckets: [] };
      // Route templates and statuses are few; the bound only guards against surprises.
      if (this.counts.size < 10_000) this.counts.set(countKey, count);
    }
    count.count++;
    const durationKey = `${method} ${route}`;
    let duration = this.durations.get(durationKey);
    if (!duration) {
      duration = { labels: { method, route }, count: 0, sum: 0, buckets: this.bounds.map(() => 0) };
      if (this.durations.size < 10_000) this.durations.set(durationKey, duration);
    }
    duration.count++;
    duration.sum += seconds;
    const i = this.bounds.findIndex((b) => seconds <= b);
    if (i >= 0) duration.buckets[i]!++;
  }

  private histogramValues(name: string, s: Series): Value[] {
    let cumulative = 0;
    const out: Value[] = this.bounds.map((bound, i) => {
      cumulative += s.buckets[i]!;
      return { metricName: `${name}_bucket`, labels: { ...s.labels, le: String(bound) }, value: cumulative };
    });
    out.push({ metricName: `${name}_bucket`, labels: { ...s.labels, le: "+Inf" }, value: s.count });
    out.push({ metricName: `${name}_sum`, labels: s.labels, value: s.sum });
    out.push({ metricName: `${name}_count`, labels: s.labels, value: s.count });
    return out;
  }
}
