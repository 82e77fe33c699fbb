// A ChannelHub served by src/platform/serve.ts on a unix socket, run by Deno for
// test/integration/channel-deno.test.ts: it prints what it stores and what its requests bring
// back as JSON lines, so a Bun test can watch the hub on Deno from outside.
// Usage: deno run --config deno.json --allow-net=unix:<socket> --allow-read --allow-write --allow-env test/support/deno-hub.ts <socket> <secret>
import { ChannelHub } from "../../src/channel/hub";
import { ChannelTokens } from "../../src/channel/tokens";
import { silentLogger } from "../../src/log";
import { serve } from "../../src/platform/serve";
import { runtime } from "../../src/platform/runtime";

const [socket, secret] = process.argv.slice(2);
if (!socket || !secret) throw new Error("usage: deno-hub.ts <socket> <secret>");
const print = (line: Record<string, unknown>) => process.stdout.write(JSON.stringify(line) + "\n");

const hub: ChannelHub = new ChannelHub({
  tokens: new ChannelTokens(secret),
  log: silentLogger,
  sink: {
    admits: async () => true,
    apply: async (sessionId, _launchId, report) => void print({ event: "stored", sessionId, type: report.type }),
    // Every sandbox that connects is asked one question; the answer (or why there is none) is printed.
    connected: (sessionId) => {
      hub.request(sessionId, { type: "check-number", phones: ["4915112345678"] }, 5000).then(
        (result) => print({ event: "answer", sessionId, result }),
        (err: Error) => print({ event: "rejected", sessionId, name: err.name }),
      );
    },
  },
});
await serve({ listen: { unix: socket }, fetch: hub.handler(() => new Response("no", { status: 404 })), websocket: hub.websocket });
print({ event: "ready", runtime });
