// The OpenAPI 3.0.3 document at /swagger/json, generated from the routes' TypeBox schemas and
// `detail` by @elysiajs/swagger's generator, then made valid OpenAPI 3.0.3 in one documented pass:
//
// - request and response bodies are application/json only (the generator offers
//   multipart/form-data and text/plain too; the API reads JSON only, see json-body.ts);
// - every response has a description: the schema's own, else one per status naming the error
//   codes it can carry (errors all have the shape {success:false,error,code});
// - JSON Schema that OpenAPI 3.0 does not have is rewritten: `anyOf [X, {type:"null"}]` (what
//   t.Nullable emits) becomes X with `nullable: true`, `const` (t.Literal) becomes a one-value
//   `enum`, and `examples` becomes `example`;
// - Elysia's t.Integer is `anyOf [{type:"string",format:"integer"}, {type:"integer"}]` so that
//   query strings coerce; the document says what goes over the wire: the integer;
// - operation ids are camelCase (the generator leaves path dashes in: postSessionsByIdPairing-code).
//
// Routes with `detail.hide` (Swagger UI and this document) are left out.
import { filterPaths, registerSchemaPath } from "@elysiajs/swagger/utils";
import { Elysia } from "elysia";

type Json = Record<string, any>;

export interface OpenApiOptions {
  /** Where the document is served. */
  path: string;
  /** info, tags, components (security schemes): merged into the document as they are. */
  /** Descriptions of path parameters a route declares no schema for (by name). */
  pathParameters?: Record<string, string>;
  documentation: { info: { title: string; version: string; description?: string }; tags?: Json[]; components?: Json };
}

/** Descriptions of the answers a status can be, for responses whose schema has none. */
const statusDescriptions: Record<string, string> = {
  200: "OK",
  201: "Created",
  400: "Invalid request: VALIDATION_ERROR (with `field`), INVALID_JSON or INVALID_PHONE_NUMBER",
  401: "No API key (MISSING_API_KEY) or an unknown one (INVALID_API_KEY)",
  403: "The key may not use this route or session (FORBIDDEN)",
  404: "SESSION_NOT_FOUND, MESSAGE_NOT_FOUND, DELIVERY_NOT_FOUND, NODE_NOT_FOUND or ROUTE_NOT_FOUND",
  409: "SESSION_NAME_TAKEN, or INVALID_SESSION_STATE (with `state` and `allowedStates`), or INVALID_DELIVERY_STATE, or NODE_UNAVAILABLE (a node draining, dead or full; one node alone), or CONFLICT",
  413: "The body is larger than 1 MiB (PAYLOAD_TOO_LARGE)",
  415: "The body is not JSON (UNSUPPORTED_MEDIA_TYPE)",
  422: "The number is not on WhatsApp (NOT_ON_WHATSAPP)",
  429: "RATE_LIMITED or SESSION_LIMIT_REACHED",
  502: "The session's sandbox answered with an error (SANDBOX_ERROR)",
  503: "Try again later: DATABASE_UNAVAILABLE, RUNTIME_UNAVAILABLE, SANDBOX_UNAVAILABLE, SANDBOX_IMAGE_MISSING or RUNTIME_FAILED",
  504: "The session's sandbox did not answer in time (SANDBOX_TIMEOUT)",
};

interface RouteLike {
  method: string;
  path: string;
  hooks: Json;
}

/** The document for these routes (an Elysia app's `routes`). */
export function openApiDocument(routes: readonly RouteLike[], { documentation, pathParameters = {} }: Omit<OpenApiOptions, "path">): Json {
  const paths: Json = {};
  for (const route of routes) {
    if (route.hooks?.detail?.hide === true || route.method === "OPTIONS") continue;
    registerSchemaPath({
      schema: paths,
      path: route.path,
      method: route.method,
      // The generator takes content types from string parse hooks; ours are functions (auth.ts
      // reads JSON itself), so say it here.
      hook: { ...route.hooks, parse: ["application/json"] },
      models: {},
    } as never);
  }
  const filtered = filterPaths(paths, { excludeStaticFile: false, exclude: [] }) as Json;
  for (const operations of Object.values(filtered)) {
    for (const operation of Object.values(operations as Json)) fixOperation(operation as Json, pathParameters);
  }
  return toOpenApi30({
    openapi: "3.0.3",
    info: documentation.info,
    tags: documentation.tags,
    paths: filtered,
    components: { ...documentation.components },
  });
}

function fixOperation(operation: Json, pathParameters: Record<string, string>): void {
  // A route that also takes a form says so in its detail (`x-form`, a TypeBox schema): the body reader is ours (form-body.ts).
  if (operation["x-form"]) {
    const form = JSON.parse(JSON.stringify(operation["x-form"])) as Json;
    delete operation["x-form"];
    operation.requestBody.content["multipart/form-data"] = { schema: form };
  }
  if (typeof operation.operationId === "string") operation.operationId = operation.operationId.replace(/-(\w)/g, (_: string, c: string) => c.toUpperCase());
  for (const [status, response] of Object.entries<Json>(operation.responses ?? {})) {
    const schema = response.content?.["application/json"]?.schema;
    response.description ||= schema?.description || statusDescriptions[status] || "Answer";
  }
  for (const parameter of operation.parameters ?? []) {
    // Parameters take one `example`; the generator passes TypeBox's `examples` array through.
    if (Array.isArray(parameter.examples)) {
      parameter.example = parameter.examples[0];
      delete parameter.examples;
    }
    if (parameter.description === undefined) delete parameter.description;
    if (parameter.in === "path" && !parameter.description && pathParameters[parameter.name]) parameter.description = pathParameters[parameter.name];
  }
}

/**
 * Rewrites JSON Schema keywords that OpenAPI 3.0 lacks (see the top of the file), everywhere in
 * the document: a property named like a keyword (`const`, `anyOf`) would be rewritten too; no
 * schema of ours has one, and the test's validation would catch the damage.
 */
export function toOpenApi30<T>(value: T): T {
  if (Array.isArray(value)) return value.map(toOpenApi30) as T;
  if (value === null || typeof value !== "object") return value;
  // (Keys the generator set to undefined are dropped, so they cannot hide a merged value.)
  let node: Json = Object.fromEntries(Object.entries(value).flatMap(([k, v]) => (v === undefined ? [] : [[k, toOpenApi30(v)]])));
  if (Array.isArray(node.anyOf)) {
    const nonNull = node.anyOf.filter((s: Json) => s?.type !== "null");
    if (nonNull.length === 1 && nonNull.length < node.anyOf.length) {
      const { anyOf: _, ...rest } = node;
      const inner = nonNull[0] as Json;
      node = "$ref" in inner ? { ...rest, allOf: [inner], nullable: true } : { ...inner, ...rest, nullable: true };
      if (Array.isArray(node.enum) && !node.enum.includes(null)) node.enum = [...node.enum, null];
    }
  }
  if (Array.isArray(node.anyOf)) {
    const numeric = node.anyOf.filter((s: Json) => s?.type === "integer" || s?.type === "number");
    const coerced = node.anyOf.filter((s: Json) => s?.type === "string" && (s.format === "integer" || s.format === "numeric"));
    if (numeric.length === 1 && coerced.length + numeric.length === node.anyOf.length) {
      const { anyOf: _, ...rest } = node;
      node = { ...numeric[0], ...rest };
    }
  }
  if ("const" in node) {
    const { const: only, ...rest } = node;
    node = { ...rest, enum: [only] };
  }
  if (Array.isArray(node.examples) && !("in" in node)) {
    const { examples, ...rest } = node;
    node = { ...rest, example: examples[0] };
  }
  // An enum of strings says so, so generated clients type it as a string union.
  if (Array.isArray(node.enum) && node.type === undefined && node.enum.every((v: unknown) => typeof v === "string" || v === null)) {
    node = { type: "string", ...node };
  }
  return node as T;
}

/** Serves the document of `routes()` (an app's `routes`), built again when routes were added. */
export function openApi(opts: OpenApiOptions & { routes: () => readonly RouteLike[] }) {
  let cached: { routeCount: number; document: Json } | null = null;
  return new Elysia({ name: "openapi" }).get(
    opts.path,
    () => {
      const routes = opts.routes();
      if (cached?.routeCount !== routes.length) cached = { routeCount: routes.length, document: openApiDocument(routes, opts) };
      return cached.document;
    },
    { detail: { hide: true } },
  );
}
