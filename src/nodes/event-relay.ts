// GET /events on any node hears every node's events: each node NOTIFYs what its bus publishes
// (after the commit that made it) and delivers what the others NOTIFY to its own subscribers.
import type { PubSub } from "../db/client";
import type { Logger } from "../log";
import type { SessionEvent, SessionEventBus } from "../sessions/event-bus";

const CHANNEL = "wa_session_events";
/** PostgreSQL's limit for a NOTIFY payload is 8000 bytes. */
const MAX_PAYLOAD = 7900;

export async function relayEvents(bus: SessionEventBus, pubsub: PubSub, self: string, log: Logger): Promise<() => Promise<void>> {
  const unlisten = await pubsub.listen(CHANNEL, (payload) => {
    try {
      const { from, event } = JSON.parse(payload) as { from: string; event: SessionEvent };
      if (from !== self && event && typeof event.event === "string" && typeof event.sessionId === "string") bus.deliver(event);
    } catch {
      log.warn("event from another node not understood", { bytes: payload.length });
    }
  });
  bus.relay = (event) => {
    const payload = JSON.stringify({ from: self, event });
    if (Buffer.byteLength(payload) > MAX_PAYLOAD) {
      log.warn("event too large for the other nodes' streams", { sessionId: event.sessionId, event: event.event });
      return;
    }
    pubsub.notify(CHANNEL, payload).catch((err) => log.warn("event not relayed to the other nodes", { sessionId: event.sessionId, error: err }));
  };
  return async () => {
    bus.relay = null;
    await unlisten();
  };
}
