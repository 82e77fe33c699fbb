// The control API: JSON over HTTP on loopback, playing the phones and the network. Bad input
// answers 4xx with {error, code}; nothing here answers 5xx to a caller's mistake.
import type { Connection } from "./connection";
import { party } from "./contacts";
import { isConversational, sendConversational } from "./control-conversation";
import { account, body, contact, ControlError, fail, mediaInput, numbers, phoneNumber } from "./control-input";
import { routeGroups } from "./control-groups";
import type { EmulatorLog } from "./log";
import { contactMediaMessage } from "./media";
import { sendFromContact, sendRead } from "./messages";
import { parseQr } from "./pairing";
import { deviceJid, type EmulatorState, type History } from "./state";

export interface ControlContext {
  state: EmulatorState;
  log: EmulatorLog;
  connections: Set<Connection>;
  byRef: Map<string, Connection>;
  wsUrl: string;
}

function history(b: Record<string, unknown>): History {
  const contacts = b.contacts ?? [];
  const chats = b.chats ?? [];
  if (!Array.isArray(contacts) || !Array.isArray(chats)) fail(400, "INVALID_FIELD", "contacts and chats must be arrays");
  const str = (v: unknown) => (typeof v === "string" ? v : null);
  return {
    contacts: (contacts as Record<string, unknown>[]).map((c, i) => {
      if (!c || typeof c.id !== "string" || !c.id.includes("@")) fail(400, "INVALID_FIELD", `contacts[${i}].id must be a JID`);
      return { id: c.id as string, name: str(c.name), notify: str(c.notify) };
    }),
    chats: (chats as Record<string, unknown>[]).map((c, i) => {
      if (!c || typeof c.id !== "string" || !c.id.includes("@")) fail(400, "INVALID_FIELD", `chats[${i}].id must be a JID`);
      const unread = c.unreadCount ?? 0;
      const ts = c.timestamp ?? Math.floor(Date.now() / 1000);
      if (typeof unread !== "number" || unread < 0 || typeof ts !== "number") fail(400, "INVALID_FIELD", `chats[${i}] needs numeric unreadCount and timestamp`);
      return { id: c.id as string, name: str(c.name), isGroup: c.isGroup === true || (c.id as string).endsWith("@g.us"), unreadCount: unread as number, timestamp: ts as number };
    }),
  };
}

export async function handleControl(req: Request, ctx: ControlContext): Promise<Response> {
  try {
    return Response.json(await route(req, ctx));
  } catch (err) {
    if (err instanceof ControlError) return Response.json({ error: err.message, code: err.code }, { status: err.status });
    ctx.log.warn("control request failed", { error: String(err) });
    return Response.json({ error: String(err), code: "INTERNAL" }, { status: 500 });
  }
}

async function route(req: Request, ctx: ControlContext): Promise<unknown> {
  const url = new URL(req.url);
  const path = url.pathname;
  const { state } = ctx;
  const m = /^\/control\/phones\/([^/]+)\/(history|unlink|received|presence)$/.exec(path);

  if (path.startsWith("/control/groups")) {
    const answer = await routeGroups(req, path, state, ctx.log);
    if (answer !== undefined) return answer;
  }
  if (req.method === "GET" && path === "/control/stats") {
    // The iqs linked devices sent, by "xmlns child" (state.countIq), all accounts' or one's.
    const only = url.searchParams.get("phone");
    const number = only === null ? undefined : phoneNumber(only, "phone");
    if (number && !state.phones.has(number)) fail(404, "UNKNOWN_PHONE", `${number} is no phone known to the emulator`);
    const iqs: Record<string, number> = {};
    for (const [phone, counts] of state.iqCounts) {
      if (number && phone !== number) continue;
      for (const [key, n] of counts) iqs[key] = (iqs[key] ?? 0) + n;
    }
    // WebSocket connections opened since start, and open now (all devices'): a test tells whether a device reconnected;
    // replaced: logins that found the same device still connected (the older connection got a conflict and was closed).
    const sockets = { opened: state.socketsOpened, open: ctx.connections.size, replaced: state.socketsReplaced };
    return { iqs: Object.fromEntries(Object.entries(iqs).sort(([a], [b]) => a.localeCompare(b))), sockets };
  }
  if (req.method === "GET" && path === "/control/devices") {
    const connected = new Set([...ctx.connections].filter((c) => c.device && !c.closed).map((c) => deviceJid(c.device!)));
    return {
      devices: [...state.devices.values()].map((d) => ({
        jid: deviceJid(d),
        phoneNumber: d.phone,
        linked: !d.unlinked,
        connected: connected.has(deviceJid(d)),
        linkedAt: new Date(d.linkedAt).toISOString(),
      })),
    };
  }
  if (req.method === "POST" && path === "/control/scan") {
    const b = await body(req);
    if (typeof b.qr !== "string") fail(400, "INVALID_QR", "qr must be the QR string the device shows");
    const qr = parseQr(b.qr as string) ?? fail(400, "INVALID_QR", "qr is not a WhatsApp linking QR");
    const number = phoneNumber(b.phoneNumber);
    const conn = ctx.byRef.get(qr.ref);
    if (!conn || conn.closed || conn.noiseKey !== qr.noiseKey) fail(404, "QR_NOT_FOUND", "no connected device shows this QR (expired, or already scanned)");
    const phone = state.phone(number, typeof b.pushName === "string" ? b.pushName : undefined);
    const device = await conn!.pair(phone, qr.identityKey, qr.advSecret);
    if (!device) fail(409, "PAIRING_REJECTED", "the device did not confirm the link");
    return { success: true, jid: deviceJid(device!), phoneNumber: number };
  }
  if (req.method === "POST" && path === "/control/pair") {
    const b = await body(req);
    const number = phoneNumber(b.phoneNumber);
    const code = typeof b.code === "string" ? b.code.replace(/-/g, "").toUpperCase() : "";
    if (!/^[A-Z0-9]{8}$/.test(code)) fail(400, "INVALID_CODE", "code must be the 8-character pairing code");
    const conn = state.codeLinks.get(number);
    if (!conn || conn.closed) fail(404, "NO_PAIRING_REQUEST", "no device asked to link to this number with a code");
    const device = await conn!.pairByCode(state.phone(number, typeof b.pushName === "string" ? b.pushName : undefined), code);
    if (!device) fail(409, "PAIRING_REJECTED", "the device did not complete the link (wrong code?)");
    return { success: true, jid: deviceJid(device!), phoneNumber: number };
  }
  if (req.method === "POST" && path === "/control/numbers") {
    const b = await body(req);
    const add = numbers(b.add, "add");
    const remove = numbers(b.remove, "remove");
    for (const n of add) state.directory.add(n);
    for (const n of remove) state.directory.delete(n);
    return { success: true, numbers: [...state.directory].sort() };
  }
  if (m && req.method === "PUT" && m[2] === "history") {
    const number = phoneNumber(decodeURIComponent(m[1]!));
    const phone = state.phone(number);
    phone.history = history(await body(req));
    return { success: true, contacts: phone.history.contacts.length, chats: phone.history.chats.length };
  }
  if (m && req.method === "POST" && m[2] === "unlink") {
    const number = phoneNumber(decodeURIComponent(m[1]!));
    const devices = [...state.devices.values()].filter((d) => d.phone === number && !d.unlinked);
    for (const d of devices) d.unlinked = true;
    for (const c of ctx.connections) {
      if (c.device && c.device.phone === number) {
        // How WhatsApp tells a companion it was removed: a stream error with code 401.
        c.sendNode({ tag: "stream:error", attrs: { code: "401" }, content: [{ tag: "conflict", attrs: { type: "device_removed" } }] });
        setTimeout(() => c.close(1000, "device removed"), 50);
      }
    }
    return { success: true, unlinked: devices.map(deviceJid) };
  }
  if (req.method === "POST" && path === "/control/messages") {
    const b = await body(req);
    const from = contact(state, b.from, "from");
    const to = account(state, b.to, "to");
    if (isConversational(b.type)) return sendConversational(state, ctx.log, b, { from, to });
    if (b.media !== undefined || (b.type !== undefined && b.type !== "text")) {
      const m = mediaInput(b);
      const message = await contactMediaMessage(state.media!, m.kind, m.file, m.caption);
      return { id: await sendFromContact(state, ctx.log, from, to, message) };
    }
    if (typeof b.text !== "string" || b.text.length === 0 || b.text.length > 65536) fail(400, "INVALID_TEXT", "text must be a string of 1 to 65536 characters");
    return { id: await sendFromContact(state, ctx.log, from, to, b.text as string) };
  }
  if (req.method === "POST" && path === "/control/media/expire") {
    const b = await body(req);
    const sha256 = typeof b.sha256 === "string" ? b.sha256.toLowerCase() : "";
    if (!/^[0-9a-f]{64}$/.test(sha256)) fail(400, "INVALID_SHA256", "sha256 must be the hex sha256 of the decrypted file");
    const expired = state.media!.expire(sha256);
    if (!expired) fail(404, "UNKNOWN_MEDIA", "the media server holds no file with this content (or it expired already)");
    return { success: true, expired };
  }
  if (req.method === "POST" && path === "/control/read") {
    const b = await body(req);
    const by = contact(state, b.by, "by");
    const to = account(state, b.to, "to");
    const ids = b.ids;
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > 1000 || !ids.every((id) => typeof id === "string" && id.length > 0 && id.length <= 128)) {
      fail(400, "INVALID_IDS", "ids must be an array of 1 to 1000 message ids");
    }
    await sendRead(state, ctx.log, by, to, ids as string[]);
    return { success: true };
  }
  if (m && req.method === "GET" && m[2] === "received") {
    const number = phoneNumber(decodeURIComponent(m[1]!), "phone");
    if (!state.isRegistered(number)) fail(404, "NOT_ON_WHATSAPP", `${number} is not a number on WhatsApp (add it with /control/numbers)`);
    return { messages: party(state, number).received.map((r) => ({ ...r })) };
  }
  if (m && req.method === "GET" && m[2] === "presence") {
    // A number's presence as the server holds it, and the availability its linked devices announced.
    const number = phoneNumber(decodeURIComponent(m[1]!), "phone");
    if (!state.isRegistered(number)) fail(404, "NOT_ON_WHATSAPP", `${number} is not a number on WhatsApp (add it with /control/numbers)`);
    const p = state.presences.get(number);
    return {
      state: p?.state ?? null,
      lastSeen: p?.last ?? null,
      subscribers: [...(state.presenceSubscribers.get(number) ?? [])].filter(([d, sub]) => !sub.conn.closed && state.online.get(d) === sub.conn).map(([d]) => d),
      updates: (state.presenceLog.get(number) ?? []).map((r) => ({ ...r })),
    };
  }
  if (req.method === "POST" && path === "/control/clock") {
    const b = await body(req);
    const offset = b.offsetSeconds;
    if (typeof offset !== "number" || !Number.isInteger(offset) || Math.abs(offset) > 10 * 365 * 86400) fail(400, "INVALID_FIELD", "offsetSeconds must be a whole number of seconds (at most ten years either way)");
    state.clockOffset = offset as number;
    return { success: true, offsetSeconds: state.clockOffset, now: state.now() };
  }
  if (req.method === "POST" && path === "/control/drop") {
    const b = req.headers.get("content-length") === "0" || !req.body ? {} : await body(req);
    const number = b.phoneNumber === undefined ? undefined : phoneNumber(b.phoneNumber);
    let dropped = 0;
    for (const c of [...ctx.connections]) {
      if (number && c.device?.phone !== number) continue;
      c.close(1001, "dropped by control");
      dropped++;
    }
    return { success: true, dropped };
  }
  if (req.method === "POST" && path === "/control/refuse") {
    const b = await body(req);
    const seconds = b.seconds;
    if (typeof seconds !== "number" || seconds < 0 || seconds > 3600) fail(400, "INVALID_FIELD", "seconds must be a number from 0 to 3600");
    state.refuseUntil = Date.now() + (seconds as number) * 1000;
    return { success: true, refuseUntil: new Date(state.refuseUntil).toISOString() };
  }
  if (req.method === "POST" && path === "/control/latency") {
    const b = await body(req);
    const msValue = b.ms;
    if (typeof msValue !== "number" || msValue < 0 || msValue > 120_000) fail(400, "INVALID_FIELD", "ms must be a number from 0 to 120000");
    state.latencyMs = msValue as number;
    return { success: true, latencyMs: state.latencyMs };
  }
  if (req.method === "GET" && path === "/control") return { wsUrl: ctx.wsUrl };
  return fail(404, "NOT_FOUND", `no control route ${req.method} ${path}`);
}
