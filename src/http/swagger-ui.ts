// Swagger UI, served by the API itself from the swagger-ui-dist package: no CDN, so /swagger works
// offline and loads nothing from a third party (its Content-Security-Policy forbids that too).
// @elysiajs/swagger cannot do this: its page hard-codes unpkg.com URLs.
import { Elysia } from "elysia";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export interface SwaggerUiOptions {
  /** Where the page is served (also with a trailing slash). */
  path: string;
  /** Same-origin URL of the OpenAPI document the page shows. */
  specUrl: string;
  title: string;
}

const distDir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
const distVersion = (JSON.parse(readFileSync(join(distDir, "package.json"), "utf8")) as { version: string }).version;

/** The only files of the package that are served, with their types. */
const assets: Record<string, string> = {
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui.css": "text/css; charset=utf-8",
  "favicon-32x32.png": "image/png",
  "favicon-16x16.png": "image/png",
};

/**
 * Everything the page needs comes from this origin: scripts and styles (Swagger UI sets inline
 * style attributes), the document, and "Try it out" requests; images may be data: URLs.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export function swaggerUi(opts: SwaggerUiOptions) {
  // The version is in the asset paths, so they can be cached for long and change with the package.
  const base = `${opts.path}/ui-${distVersion}`;
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>${escapeHtml(opts.title)}</title>
  <link rel="stylesheet" href="${base}/swagger-ui.css" />
  <link rel="icon" type="image/png" href="${base}/favicon-32x32.png" sizes="32x32" />
  <link rel="icon" type="image/png" href="${base}/favicon-16x16.png" sizes="16x16" />
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="${base}/swagger-ui-bundle.js"></script>
  <script src="${base}/init.js"></script>
</body>
</html>
`;
  // A script of its own rather than an inline one, so the policy needs no 'unsafe-inline' scripts.
  const init = `window.ui = SwaggerUIBundle(${JSON.stringify({
    url: opts.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    // No badge fetched from validator.swagger.io.
    validatorUrl: null,
  })});\n`;

  const app = new Elysia({ name: "swagger-ui" });
  const page = () => new Response(html, { headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": CSP, "cache-control": "no-cache" } });
  app.get(opts.path, page, { detail: { hide: true } });
  app.get(`${opts.path}/`, page, { detail: { hide: true } });
  app.get(`${base}/init.js`, () => new Response(init, { headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" } }), {
    detail: { hide: true },
  });
  for (const [name, type] of Object.entries(assets)) {
    const file = join(distDir, name);
    // Read once, on first request (about 1.5 MB in all: not at every start, not at every request).
    let body: Promise<Uint8Array<ArrayBuffer>> | undefined;
    app.get(`${base}/${name}`, async () => new Response(await (body ??= readFile(file)), { headers: { "content-type": type, "cache-control": "public, max-age=604800, immutable" } }), {
      detail: { hide: true },
    });
  }
  return app;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
