// The operators' dashboard at /dashboard: plain HTML, CSS and one script from src/dashboard/,
// served by the API itself (no build step, no CDN). The page holds no privilege of its own: it
// calls the same REST routes with the key it was given, and reads GET /events for live updates.
import { Elysia } from "elysia";
import { readFileSync } from "node:fs";

/** The page may load and reach nothing but this origin; QR images arrive as blob: URLs. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  // No string ever becomes markup: innerHTML and friends throw (the script uses textContent).
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join("; ");

const files: Record<string, { name: string; type: string }> = {
  "": { name: "index.html", type: "text/html; charset=utf-8" },
  "app.js": { name: "app.js", type: "text/javascript; charset=utf-8" },
  "app.css": { name: "app.css", type: "text/css; charset=utf-8" },
  "icon.svg": { name: "icon.svg", type: "image/svg+xml" },
};

const headers = (type: string): Record<string, string> => ({
  "content-type": type,
  "content-security-policy": DASHBOARD_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cache-control": "no-cache",
});

export function dashboard(path = "/dashboard") {
  const app = new Elysia({ name: "dashboard" });
  for (const [asset, { name, type }] of Object.entries(files)) {
    // Read once at start; a missing file fails the start, not a later request.
    const body = readFileSync(new URL(`../dashboard/${name}`, import.meta.url));
    const serve = () => new Response(body, { headers: headers(type) });
    if (asset === "") {
      app.get(path, serve, { detail: { hide: true } });
      app.get(`${path}/`, serve, { detail: { hide: true } });
    } else {
      app.get(`${path}/${asset}`, serve, { detail: { hide: true } });
    }
  }
  return app;
}
