// Transport of the libpod REST API: fetch over Podman's unix socket (src/platform/unix-fetch.ts),
// versioned paths, JSON in and out, and libpod's error bodies turned into typed errors.
import { unixFetch, type UnixFetch } from "../../platform/unix-fetch";
import { PodmanNotFoundError, podmanError, PodmanUnavailableError } from "./errors";

export const LIBPOD_VERSION = "v4.0.0";

export type Query = Record<string, string | number | boolean | undefined | string[] | Record<string, string[] | string>>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Raw body (a tar archive for builds) with its content type. */
  raw?: { data: Uint8Array | Blob; contentType: string };
  signal?: AbortSignal;
  /** Statuses that are not errors for this call (e.g. 304 for "already stopped"). */
  accept?: number[];
}

export class PodmanClient {
  private readonly send: UnixFetch;

  constructor(readonly socketPath: string) {
    this.send = unixFetch(socketPath);
  }

  url(path: string, query?: Query): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const item of v) params.append(k, item);
      else if (typeof v === "object") params.set(k, JSON.stringify(v));
      else params.set(k, String(v));
    }
    const qs = params.toString();
    return `http://podman/${LIBPOD_VERSION}/libpod${path}${qs ? `?${qs}` : ""}`;
  }

  /** Sends a request and returns the raw response (for streams); errors are thrown typed. */
  async fetch(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    let res: Response;
    const headers: Record<string, string> = {};
    let body: BodyInit | undefined;
    if (opts.raw) {
      headers["content-type"] = opts.raw.contentType;
      body = opts.raw.data as BodyInit;
    } else if (opts.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    try {
      res = await this.send(this.url(path, opts.query), { method, headers, body, signal: opts.signal });
    } catch (err) {
      if ((err as Error).name === "AbortError") throw err;
      throw new PodmanUnavailableError(`Podman socket ${this.socketPath} did not answer: ${(err as Error).message}`, 0);
    }
    if (res.ok || opts.accept?.includes(res.status)) return res;
    const text = await res.text();
    let message = text.trim() || res.statusText;
    let cause: string | undefined;
    try {
      const parsed = JSON.parse(text) as { message?: string; cause?: string };
      message = parsed.message ?? message;
      cause = parsed.cause;
    } catch {}
    throw podmanError(res.status, message, cause);
  }

  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.fetch(method, path, opts);
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async empty(method: string, path: string, opts: RequestOptions = {}): Promise<number> {
    const res = await this.fetch(method, path, opts);
    await res.arrayBuffer();
    return res.status;
  }

  /** Sends a call about one resource; false when libpod says it does not exist (404). */
  async found(method: string, path: string, opts: RequestOptions = {}): Promise<boolean> {
    try {
      await this.empty(method, path, opts);
      return true;
    } catch (err) {
      if (err instanceof PodmanNotFoundError) return false;
      throw err;
    }
  }
}
