// Where WhatsApp's media hosts are reached. In production nothing changes: Baileys fetches
// https://mmg.whatsapp.net and the like. In tests the container has no network, so
// WA_MEDIA_SOCKET names the emulated media server's unix socket (bind-mounted, as the WebSocket's
// is) and WA_MEDIA_CA its test CA, which is trusted for those requests only.
export function installMediaFetch(socket: string | undefined, ca: string | undefined): void {
  if (!socket) return;
  const original = globalThis.fetch;
  const routed = (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith("https://")) return original(input, init);
    return original(input, { ...init, unix: socket, ...(ca ? { tls: { ca } } : {}) } as RequestInit);
  };
  globalThis.fetch = Object.assign(routed, original) as typeof fetch;
}
