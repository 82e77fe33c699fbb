// GET /metrics: known traffic in, exact counts out (parsed from the Prometheus text format),
// route templates instead of raw paths, who may read it; then a session driven through the
// WhatsApp emulator to ready, so reports, channel connections, sandbox request latency and
// webhook attempts show what happened.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { RunningEmulator } from "../emulator";
import { startTestApi, type TestApi } from "../support/api";
import { emulatorControl, startEmulatorForContainers } from "../support/emulator";
import { waitFor } from "../support/env";
import { WebhookReceiver } from "../support/webhook-receiver";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format's samples (comments and blank lines skipped). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample with this name and these labels (0 when there is none). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${hits.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return hits[0]?.value ?? 0;
}

async function scrape(t: TestApi, headers: Record<string, string> = { "x-api-key": t.adminKey }): Promise<Sample[]> {
  const res = await fetch(`${t.url}/metrics`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toStartWith("text/plain");
  return parseMetrics(await res.text());
}

const STATUS_ROUTE = "/sessions/:id/status";

describe("metrics from known traffic", () => {
  let t: TestApi;
  let id = "";
  let key = "";
  const N = 7;

  beforeAll(async () => {
    t = await startTestApi("postgres");
  });
  afterAll(async () => {
    await t?.close();
  });

  test("HTTP counts by route template and status match the requests made, exactly", async () => {
    const before = await scrape(t);
    expect(value(before, "wa_http_requests_total", { route: STATUS_ROUTE })).toBe(0);

    const s = await t.createSession();
    id = s.id;
    key = s.apiKey;
    for (let i = 0; i < N; i++) expect((await t.call("GET", `/sessions/${id}/status`, { key })).status).toBe(200);
    const unknownId = crypto.randomUUID();
    expect((await t.call("GET", `/sessions/${unknownId}/status`)).status).toBe(404);
    expect((await t.call("GET", `/no/such/route/${id}`)).status).toBe(404);
    expect((await t.call("GET", `/sessions/${id}/status`, { key: null })).status).toBe(401);

    const after = await scrape(t);
    const req = (labels: Record<string, string>) => value(after, "wa_http_requests_total", labels) - value(before, "wa_http_requests_total", labels);
    expect(req({ method: "POST", route: "/sessions/create", status: "201" })).toBe(1);
    expect(req({ method: "GET", route: STATUS_ROUTE, status: "200" })).toBe(N);
    expect(req({ method: "GET", route: STATUS_ROUTE, status: "404" })).toBe(1);
    expect(req({ method: "GET", route: STATUS_ROUTE, status: "401" })).toBe(1);
    expect(req({ method: "GET", route: "unmatched", status: "404" })).toBe(1);
    // The first scrape is counted once it was answered (this one is not yet).
    expect(req({ method: "GET", route: "/metrics", status: "200" })).toBe(1);
    const durations = (labels: Record<string, string>) => value(after, "wa_http_request_duration_seconds_count", labels);
    expect(durations({ method: "GET", route: STATUS_ROUTE })).toBe(N + 2);
    expect(value(after, "wa_http_request_duration_seconds_bucket", { method: "GET", route: STATUS_ROUTE, le: "+Inf" })).toBe(N + 2);

    // Route labels are templates: no session id (known or unknown) anywhere in them.
    const routes = new Set(after.filter((s) => s.labels.route !== undefined).map((s) => s.labels.route!));
    for (const route of routes) expect(route).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/i);
    expect(routes.has(STATUS_ROUTE)).toBe(true);
    const text = await (await fetch(`${t.url}/metrics`, { headers: { "x-api-key": t.adminKey } })).text();
    expect(text).not.toContain(id);
    expect(text).not.toContain(unknownId);
  });

  test("gauges read at scrape: sessions by state from the database, running containers from Podman", async () => {
    const samples = await scrape(t);
    const row = await t.api.sessions.queries.get(id);
    expect(value(samples, "wa_sessions", { state: row.state })).toBe(1);
    const total = samples.filter((s) => s.name === "wa_sessions").reduce((n, s) => n + s.value, 0);
    expect(total).toBe(1);
    // Every state is shown, 0 when empty.
    expect(samples.filter((s) => s.name === "wa_sessions").length).toBe(9);
    expect(value(samples, "wa_runtime_up")).toBe(1);
    // The container may exit (no WhatsApp here): wait for a scrape and Podman to agree.
    await waitFor(async () => {
      const running = (await t.runtime.list()).filter((b) => b.running).length;
      return value(await scrape(t), "wa_sandbox_containers_running") === running;
    }, 10_000, "the running-containers gauge to match Podman");
    expect(value(samples, "wa_webhook_deliveries", { status: "pending" })).toBeGreaterThanOrEqual(0);
    expect(samples.some((s) => s.name === "wa_webhook_deliveries" && s.labels.status === "dead")).toBe(true);
  });

  test("only the admin key may read it when no METRICS_TOKEN is set", async () => {
    const none = await t.call("GET", "/metrics", { key: null });
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ success: false, code: "MISSING_API_KEY" });
    const wrong = await t.call("GET", "/metrics", { key: `wamk_${"0".repeat(48)}` });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ success: false, code: "INVALID_API_KEY" });
    const session = await t.call("GET", "/metrics", { key });
    expect(session.status).toBe(403);
    expect(session.body).toMatchObject({ success: false, code: "FORBIDDEN" });
    // A bearer token means nothing while METRICS_TOKEN is unset.
    const bearer = await t.call("GET", "/metrics", { key: null, headers: { authorization: "Bearer some-token-of-16-chars" } });
    expect(bearer.status).toBe(401);
  });
});

describe("metrics of a session driven to ready through the emulator", () => {
  const PHONE = "4915112340011";
  const OTHER = "4915112340012";
  const TOKEN = "metrics-token-0123456789abcdef";
  const K = 3;
  let emu: RunningEmulator;
  let t: TestApi;
  const receiver = new WebhookReceiver();
  const bearer = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    receiver.start();
    emu = await startEmulatorForContainers();
    await emulatorControl(emu)("POST", "/control/numbers", { add: [OTHER] });
    t = await startTestApi("postgres", { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, METRICS_TOKEN: TOKEN });
  });
  afterAll(async () => {
    await t?.close();
    await emu?.stop();
    receiver.stop();
  });

  test("METRICS_TOKEN as a bearer token reads metrics; a wrong one is refused; the admin key still works", async () => {
    await scrape(t, bearer);
    await scrape(t);
    const wrong = await t.call("GET", "/metrics", { key: null, headers: { authorization: `Bearer ${TOKEN}x` } });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ success: false, code: "INVALID_API_KEY" });
    const none = await t.call("GET", "/metrics", { key: null });
    expect(none.status).toBe(401);
  });

  test("reports, channel connections, sandbox request latency and webhook attempts", async () => {
    const s = await t.createSession(undefined, { webhookUrl: `http://127.0.0.1:${receiver.port}/hook` });
    const status = async () => (await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).body.session.state as string;
    await waitFor(async () => (await status()) === "qr_ready", 30_000, "qr_ready");
    const qr = await t.call("GET", `/sessions/${s.id}/qr`, { key: s.apiKey });
    expect((await emulatorControl(emu)("POST", "/control/scan", { qr: qr.body.qr, phoneNumber: PHONE, pushName: "Metrics" })).status).toBe(200);
    await waitFor(async () => (await status()) === "ready", 30_000, "ready");

    let samples = await scrape(t, bearer);
    expect(value(samples, "wa_channel_connections")).toBe(1);
    expect(value(samples, "wa_sessions", { state: "ready" })).toBe(1);
    expect(value(samples, "wa_sandbox_reports_total", { type: "ready", outcome: "stored" })).toBe(1);
    expect(value(samples, "wa_sandbox_reports_total", { type: "qr", outcome: "stored" })).toBeGreaterThanOrEqual(1);
    expect(value(samples, "wa_sandbox_request_duration_seconds_count", { type: "check-number" })).toBe(0);

    for (let i = 0; i < K; i++) expect((await t.call("GET", `/sessions/${s.id}/check-number/${OTHER}`, { key: s.apiKey })).status).toBe(200);
    samples = await scrape(t, bearer);
    expect(value(samples, "wa_sandbox_request_duration_seconds_count", { type: "check-number", outcome: "ok" })).toBe(K);
    expect(value(samples, "wa_sandbox_request_duration_seconds_sum", { type: "check-number", outcome: "ok" })).toBeGreaterThan(0);

    // Every event reached the receiver once, and each delivery was one attempt.
    let delivered = 0;
    const settled = await waitFor(async () => {
      const now = await scrape(t, bearer);
      delivered = receiver.received.length;
      const open = value(now, "wa_webhook_deliveries", { status: "pending" }) + value(now, "wa_webhook_deliveries", { status: "failed" });
      return open === 0 && delivered > 0 && value(now, "wa_webhook_deliveries", { status: "delivered" }) === delivered ? now : undefined;
    }, 15_000, "the outbox to empty into the receiver");
    expect(value(settled, "wa_webhook_attempts_total", { outcome: "delivered" })).toBe(delivered);
    expect(value(settled, "wa_webhook_attempts_total", { outcome: "failed" })).toBe(0);
  });
});
