// The baseline: a bare Bun.serve answering a constant JSON body, in its own process.
const body = JSON.stringify({ success: true, session: { id: "e67a00be-ed45-4356-9488-049cabb9895d", state: "ready" } });
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch: () => new Response(body, { headers: { "content-type": "application/json" } }),
});
console.log(JSON.stringify({ url: `http://127.0.0.1:${server.port}/` }));
