// What every sessions route file starts from: the /sessions prefix, the auth and session macros
// (src/http/auth.ts), and the tags and key scheme of the OpenAPI document.
import { Elysia } from "elysia";
import type { Sessions } from "../../sessions";
import { authPlugin, type AuthOptions } from "../auth";

export type SessionsRoutesOptions = Omit<AuthOptions, "queries" | "mediaMaxBytes" | "uploadDir"> & {
  sessions: Sessions;
  createRateLimitPerMinute: number;
  trustProxy: boolean;
};

export function sessionsResource(opts: SessionsRoutesOptions, name: string) {
  return (
    new Elysia({
      name: `sessions-${name}`,
      prefix: "/sessions",
      // Unknown body fields are refused with a 400 naming them, not silently dropped.
      normalize: false,
    })
      .use(authPlugin({ ...opts, queries: opts.sessions.queries, mediaMaxBytes: opts.sessions.mediaMaxBytes, uploadDir: opts.sessions.uploadDir }))
      .guard({ detail: { tags: ["Sessions"], security: [{ apiKey: [] }] } })
  );
}
