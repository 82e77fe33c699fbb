// The address a request came from. Bun knows it only in its server's fetch handler, which
// records it here; the app (runtime-neutral, called with a bare Request) reads it back.
const addresses = new WeakMap<Request, string>();

export function rememberAddress(request: Request, address: string | undefined): void {
  if (address) addresses.set(request, address);
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
  return addresses.get(request) ?? "unknown";
}
