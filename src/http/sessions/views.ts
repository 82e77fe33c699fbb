// Rows to the contract's shapes: one mapper per view, so each field is named once here.
import type { ChatRow, ContactRow, DeliveryRow, SessionEventRow, SessionRow } from "../../db/schema";
import type { LastMessage } from "../../db/session-repository";

export function createdView(s: SessionRow) {
  return { id: s.id, name: s.name, state: s.state, createdAt: s.createdAt.toISOString(), proxy: s.proxyMasked };
}

export function summaryView(s: SessionRow) {
  return { id: s.id, name: s.name, state: s.state, phoneNumber: s.phoneNumber, createdAt: s.createdAt.toISOString(), metadata: s.metadata ?? null };
}

export function statusView(s: SessionRow) {
  // Every session has its node from the start (nodes claim the ones from before nodes at start).
  return { ...summaryView(s), lastActivity: s.lastActivity.toISOString(), reason: s.stateReason, proxy: s.proxyMasked, node: s.node ?? "" };
}

/**
 * GET /sessions/{id}/status's answer, serialized once per row: rows are replaced on every write,
 * never changed in place, and the status route is the one polled hardest, so it skips building,
 * checking and encoding the same object again for every call in between.
 */
const statusBodies = new WeakMap<SessionRow, string>();
const jsonInit = { headers: { "content-type": "application/json" } };
export function statusResponse(s: SessionRow): Response {
  let body = statusBodies.get(s);
  if (body === undefined) statusBodies.set(s, (body = JSON.stringify({ success: true, session: statusView(s) })));
  return new Response(body, jsonInit);
}

export function contactView(c: ContactRow) {
  return { id: c.id, name: c.name, notify: c.notify, verifiedName: c.verifiedName, phone: c.phone };
}

export function chatView(c: ChatRow & { lastMessage?: LastMessage | null }) {
  const last = c.lastMessage;
  return {
    id: c.id,
    name: c.name,
    isGroup: c.isGroup,
    unreadCount: c.unreadCount,
    timestamp: c.timestamp,
    // Only a chat with a stored message has one (a chat from the history sync keeps the contract's
    // shape); a deleted message shows no text.
    ...(last ? { lastMessage: { id: last.id, type: last.type, text: last.revoked ? null : last.text, fromMe: last.fromMe, timestamp: Number(last.timestamp) } } : {}),
  };
}

export function eventView(e: SessionEventRow) {
  return { from: e.fromState, to: e.toState, reason: e.reason, at: e.at.toISOString() };
}

export function settingsView(s: SessionRow) {
  return { ...statusView(s), webhookUrl: s.webhookUrl, webhookEvents: s.webhookEvents, webhookDisabledReason: s.webhookDisabledReason };
}

export function deliveryView(d: DeliveryRow) {
  const open = d.status === "pending" || d.status === "failed";
  return {
    id: d.id,
    event: d.event,
    status: d.status,
    attempts: d.attempts,
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    nextAttemptAt: open ? d.nextAttemptAt.toISOString() : null,
    createdAt: d.createdAt.toISOString(),
  };
}

// Also the data of the message.received webhook, so it lives beside the code that raises it.
export { messageView } from "../../sessions/messaging";
