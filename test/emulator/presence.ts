// Presence and chat states, as WhatsApp relays them. Availability (`<presence>`: online, or
// offline with a last-seen time) goes only to devices that subscribed to that number
// (`<presence type="subscribe" to=…>`, Baileys' presenceSubscribe), for as long as their
// connection lasts, and a new subscriber hears the current state at once. Chat states
// (`<chatstate>`: composing, recording = composing with media="audio", paused) go to the chat's
// devices while they are connected; nothing is queued, as both are ephemeral.
import { party } from "./contacts";
import type { Group } from "./groups";
import type { EmulatorLog } from "./log";
import { child, node, type BinaryNode } from "./nodes";
import { deviceJid, type Device, type EmulatorState, type Online, type PresenceRecord } from "./state";

export type ChatState = "composing" | "recording" | "paused";
export type Availability = "available" | "unavailable";
export const PRESENCE_STATES = ["composing", "recording", "paused", "available", "unavailable"] as const;

/**
 * The `<presence>` a subscriber gets: no `type` when available (as WhatsApp sends it; whatsmeow
 * and Baileys read a missing type as available), `type="unavailable"` with `last` (seconds) when not.
 */
function presenceNode(from: string, p: { state: Availability; last?: number } | undefined): BinaryNode {
  if (p?.state === "available") return node("presence", { from });
  return node("presence", { from, type: "unavailable", ...(p?.last ? { last: String(p.last) } : {}) });
}

/** The chat state's child as WhatsApp writes it: recording is composing with media="audio". */
const chatstateChild = (s: ChatState) => (s === "recording" ? node("composing", { media: "audio" }) : node(s));

const live = (state: EmulatorState, device: string, conn: Online) => !conn.closed && state.online.get(device) === conn;

/** Sends `number`'s presence to each device subscribed to it on its current connection; forgets subscriptions of closed ones. */
function tellSubscribers(state: EmulatorState, number: string): number {
  const subs = state.presenceSubscribers.get(number);
  let told = 0;
  for (const [device, s] of subs ?? []) {
    if (!live(state, device, s.conn)) {
      subs!.delete(device);
      continue;
    }
    s.conn.sendNode(presenceNode(s.jid, state.presences.get(number)));
    told++;
  }
  return told;
}

/** `number` comes online or goes offline (then `last` is now): its subscribers hear it. Answers how many devices did. */
export function setAvailability(state: EmulatorState, log: EmulatorLog, number: string, availability: Availability): number {
  state.presences.set(number, availability === "available" ? { state: availability } : { state: availability, last: state.now() });
  const told = tellSubscribers(state, number);
  log.info("presence", { number, state: availability, subscribers: told });
  return told;
}

/** Devices that should see `from`'s chat state: an account's in a 1:1 chat, every other member account's in a group. */
function chatDevices(state: EmulatorState, from: string, where: { to: string } | { group: Group }): Device[] {
  const numbers = "group" in where ? [...where.group.members.keys()].filter((n) => n !== from) : [where.to];
  return numbers.flatMap((n) => state.linkedDevices(n)).filter((d) => state.online.has(deviceJid(d)));
}

/**
 * `from` types, records or pauses in its 1:1 chat with the account `to`, or in a group: each
 * connected device of the chat gets `<chatstate from=<from PN>>`, or in a group
 * `<chatstate from=<group> participant=<from LID>>`. Answers how many devices got it.
 */
export function sendChatState(state: EmulatorState, log: EmulatorLog, from: string, where: { to: string } | { group: Group }, s: ChatState): number {
  const attrs: Record<string, string> = "group" in where ? { from: where.group.jid, participant: `${state.lid(from)}@lid` } : { from: `${from}@s.whatsapp.net` };
  const devices = chatDevices(state, from, where);
  for (const d of devices) state.online.get(deviceJid(d))?.sendNode(node("chatstate", attrs, [chatstateChild(s)]));
  log.info("chat state", { from, ...("group" in where ? { group: where.group.jid } : { to: where.to }), state: s, devices: devices.length });
  return devices.length;
}

/**
 * A device's `<presence>`: `subscribe`/`unsubscribe` to a number (the subscriber hears its current
 * state at once), or its account's own availability (`available`, `unavailable`; kept in
 * state.presenceLog and told to the account's subscribers). A bare `<presence name=…>` only states
 * the push name.
 */
export function onDevicePresence(state: EmulatorState, log: EmulatorLog, device: Device, conn: Online, n: BinaryNode): void {
  const type = n.attrs.type;
  const jid = deviceJid(device);
  if (type === "subscribe" || type === "unsubscribe") {
    const to = n.attrs.to ?? "";
    const number = state.numberOf(to);
    if (!number || !state.isRegistered(number)) return;
    const subs = state.presenceSubscribers.get(number) ?? new Map<string, { jid: string; conn: Online }>();
    state.presenceSubscribers.set(number, subs);
    if (type === "unsubscribe") {
      subs.delete(jid);
      return;
    }
    const as = to.replace(/:\d+@/, "@");
    subs.set(jid, { jid: as, conn });
    conn.sendNode(presenceNode(as, state.presences.get(number)));
    log.info("presence subscription", { device: jid, to: as });
    return;
  }
  if (type !== "available" && type !== "unavailable") return;
  const records = state.presenceLog.get(device.phone) ?? [];
  records.push({ type: "presence", from: device.phone, state: type, timestamp: state.now() });
  state.presenceLog.set(device.phone, records);
  setAvailability(state, log, device.phone, type);
}

/**
 * A device's `<chatstate to=…><composing|paused/></chatstate>`: the contact (or group members)
 * note it under `received` as `{type: "presence", from, groupId?, state}`, and other accounts'
 * connected devices in the chat get it.
 */
export function onDeviceChatState(state: EmulatorState, log: EmulatorLog, device: Device, n: BinaryNode): void {
  const first = Array.isArray(n.content) ? n.content[0] : undefined;
  const tag = first?.tag;
  if (tag !== "composing" && tag !== "paused") return;
  const s: ChatState = tag === "composing" && child(n, "composing")?.attrs.media === "audio" ? "recording" : tag;
  const to = n.attrs.to ?? "";
  const t = state.now();
  const g = state.groups.get(to);
  if (g) {
    if (!g.members.has(device.phone)) return;
    for (const number of g.members.keys()) {
      if (number !== device.phone) party(state, number).received.push(record(device.phone, s, t, g.jid));
    }
    sendChatState(state, log, device.phone, { group: g }, s);
    return;
  }
  const number = state.numberOf(to);
  if (!number || !state.isRegistered(number) || number === device.phone) return;
  party(state, number).received.push(record(device.phone, s, t));
  sendChatState(state, log, device.phone, { to: number }, s);
}

const record = (from: string, s: ChatState, timestamp: number, groupId?: string): PresenceRecord => ({
  type: "presence",
  from,
  ...(groupId ? { groupId } : {}),
  state: s,
  timestamp,
});
