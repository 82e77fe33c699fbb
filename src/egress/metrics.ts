// The gateway's Prometheus metrics (its own registry): connections made and how, bytes each
// way, connections refused (not allowed, malformed) and failed (the proxy, the destination).
// The API's /metrics appends them, so one scrape sees both processes.
import { Counter, Gauge, Registry } from "prom-client";

export class EgressMetrics {
  readonly registry = new Registry();
  readonly connections = new Counter({ name: "wa_egress_connections_total", help: "Connections the gateway opened for sandboxes, by route (direct, socks5, http)", labelNames: ["via"], registers: [this.registry] });
  readonly active = new Gauge({ name: "wa_egress_connections_open", help: "Connections open through the gateway now", registers: [this.registry] });
  /**
   * Bytes through the gateway, counted in plain numbers per chunk and handed to the counter at
   * scrape: a labelled prom-client increment per chunk was a measurable part of a message's CPU.
   */
  readonly bytesPending = { out: 0, in: 0 };
  readonly bytes = new Counter({
    name: "wa_egress_bytes_total",
    help: "Bytes through the gateway: out (sandbox to WhatsApp) and in",
    labelNames: ["direction"],
    registers: [this.registry],
    collect: () => this.flushBytes(),
  });
  readonly refused = new Counter({ name: "wa_egress_refused_total", help: "Connections refused before any was made: not_allowed (outside EGRESS_ALLOW), malformed", labelNames: ["why"], registers: [this.registry] });
  readonly failed = new Counter({ name: "wa_egress_failed_total", help: "Allowed connections that could not be made, by route and cause (proxy, destination)", labelNames: ["via", "cause"], registers: [this.registry] });
  readonly sessions = new Gauge({ name: "wa_egress_sessions", help: "Sessions the gateway holds a route for", registers: [this.registry] });

  constructor() {
    for (const why of ["not_allowed", "malformed"]) this.refused.inc({ why }, 0);
    for (const direction of ["out", "in"]) this.bytes.inc({ direction }, 0);
  }

  private flushBytes(): void {
    const { out, in: inbound } = this.bytesPending;
    if (out > 0) this.bytes.inc({ direction: "out" }, out);
    if (inbound > 0) this.bytes.inc({ direction: "in" }, inbound);
    this.bytesPending.out = 0;
    this.bytesPending.in = 0;
  }
}
