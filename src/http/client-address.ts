// The address a request came from. Bun knows it only in its server's fetch handler, which
// records how to ask here; the app (runtime-neutral, called with a bare Request) asks only when
// it needs the address (open create), so other requests pay nothing for it.
const lookups = new WeakMap<Request, () => string | undefined>();

export function rememberAddress(request: Request, lookup: () => string | undefined): void {
  lookups.set(request, lookup);
}

/** The same client sent `to` (a copy of `from` with another URL). */
export function carryAddress(from: Request, to: Request): void {
  const lookup = lookups.get(from);
  if (lookup) lookups.set(to, lookup);
}

/**
 * The client's address. Behind a reverse proxy (trustProxy) it is the last X-Forwarded-For
 * entry, the one the proxy itself added; entries before it are whatever the client claimed.
 */
export function clientAddress(request: Request, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers.get("x-forwarded-for")?.split(",").at(-1)?.trim();
    if (forwarded) return forwarded;
  }
  return lookups.get(request)?.() ?? "unknown";
}
