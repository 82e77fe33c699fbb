// The baseline on Deno: a bare Deno.serve answering a constant JSON body, in its own process
// (bench/bare-server.ts is Bun's). Run with `deno run --allow-net bench/bare-server-deno.ts`.
export {}; // a module, so its names do not meet bare-server.ts's in the type check

const body = JSON.stringify({ success: true, session: { id: "e67a00be-ed45-4356-9488-049cabb9895d", state: "ready" } });
const { Deno } = globalThis as unknown as { Deno: { serve(o: object, h: () => Response): { addr: { port: number } } } };
const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, () => new Response(body, { headers: { "content-type": "application/json" } }));
console.log(JSON.stringify({ url: `http://127.0.0.1:${server.addr.port}/` }));
