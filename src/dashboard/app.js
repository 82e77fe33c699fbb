// The dashboard's one script. It holds no privilege of its own: every read and action is a call
// to the REST API with the key the user gave (kept in this tab's sessionStorage only), and live
// updates come from GET /events, read with fetch() so the key travels in the X-API-Key header.
// User data (session names, contact names, metadata, reasons, messages) only ever goes into
// textContent; media files are fetched with the key too and shown from blob: URLs.

const KEY_STORAGE = "wa-dashboard.apiKey";
const $ = (id) => document.getElementById(id);

const STATE_LABELS = {
  creating: "creating",
  starting: "starting",
  qr_ready: "waiting for scan",
  connecting: "connecting",
  ready: "ready",
  disconnected: "disconnected",
  failed: "failed",
  stopped: "stopped",
  logged_out: "logged out",
};
const CONFIRM = {
  start: { text: "Start this session?", ok: "Start" },
  stop: { text: "Stop this session? Its container stops; its data is kept.", ok: "Stop" },
  logout: { text: "Log this session out of WhatsApp? Linking again needs a new scan.", ok: "Log out" },
  delete: { text: "Delete this session? Its container and all its data are removed. This cannot be undone.", ok: "Delete" },
};
const ACTIONS = {
  start: { method: "POST", path: (id) => `/sessions/${id}/start`, allowed: ["stopped", "failed", "logged_out"] },
  stop: { method: "POST", path: (id) => `/sessions/${id}/stop`, allowed: ["starting", "qr_ready", "connecting", "ready", "disconnected", "failed", "logged_out"] },
  logout: { method: "POST", path: (id) => `/sessions/${id}/logout`, allowed: ["ready", "connecting", "disconnected"] },
  delete: { method: "DELETE", path: (id) => `/sessions/${id}`, allowed: null },
};

const state = {
  key: null,
  /** { scope: "admin" } or { scope: "session", sessionId } once the event stream said so. */
  scope: null,
  sessions: new Map(),
  stream: null,
  streamGeneration: 0,
  /** The session page shown, with what it shows. */
  page: null,
  /** Whether the stream has carried a message event: then the open chat needs no polling. */
  messageEvents: false,
};

class ApiError extends Error {
  constructor(status, body) {
    super(body && typeof body.error === "string" ? body.error : `HTTP ${status}`);
    this.status = status;
    this.code = body && typeof body.code === "string" ? body.code : "HTTP_" + status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const headers = { "X-API-Key": state.key };
  // A form (a file to send) goes as multipart/form-data, streamed by the API to disk; the browser sets its type.
  const form = body instanceof FormData;
  if (body !== undefined && !form) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : form ? body : JSON.stringify(body), cache: "no-store" });
  const type = res.headers.get("content-type") || "";
  const parsed = type.includes("application/json") ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    if (res.status === 401) signOut("That key is not valid (any more). Sign in again.");
    throw new ApiError(res.status, parsed);
  }
  return parsed;
}

// ---- small DOM helpers (text only) ----

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "text") node.textContent = v;
    else if (k === "className") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function show(node, visible) {
  node.hidden = !visible;
}

function notice(message, kind = "info") {
  const n = $("notice");
  n.textContent = message;
  n.className = `notice ${kind}`;
  show(n, !!message);
}

function errorText(err) {
  return err instanceof ApiError ? `${err.message} (${err.code})` : String(err && err.message ? err.message : err);
}

function errorNotice(err) {
  notice(errorText(err), "error");
}

function formatTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "—" : d.toLocaleString();
}

function formatPhone(phone) {
  return phone ? `+${phone}` : "—";
}

function stateBadge(node, value) {
  node.textContent = STATE_LABELS[value] || value;
  node.className = `state state-${value}`;
  node.dataset.state = value;
}

// ---- sign in and out ----

function signIn(key) {
  state.key = key;
  sessionStorage.setItem(KEY_STORAGE, key);
  notice("");
  openStream();
}

function signOut(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  state.key = null;
  state.scope = null;
  state.sessions.clear();
  state.streamGeneration++;
  state.stream?.abort();
  state.stream = null;
  leavePage();
  $("sessions-body").replaceChildren();
  show($("live"), false);
  show($("scope"), false);
  show($("sign-out"), false);
  showView("signin");
  if (message) notice(message, "error");
}

function showView(name) {
  for (const v of ["signin", "list", "session"]) show($(`${v}-view`), v === name);
}

// ---- the event stream (Server-Sent Events read with fetch) ----

function setLive(live) {
  const node = $("live");
  node.textContent = live ? "live" : "reconnecting…";
  node.className = `live ${live ? "on" : "off"}`;
  show(node, true);
}

async function openStream() {
  const generation = ++state.streamGeneration;
  let delay = 1000;
  while (generation === state.streamGeneration && state.key) {
    const controller = new AbortController();
    state.stream = controller;
    try {
      const res = await fetch("/events", { headers: { "X-API-Key": state.key, Accept: "text/event-stream" }, signal: controller.signal, cache: "no-store" });
      if (res.status === 401) {
        const body = await res.json().catch(() => null);
        signOut(body?.code === "MISSING_API_KEY" ? "Enter a key." : "That key is not valid (any more). Sign in again.");
        return;
      }
      if (!res.ok || !res.body) throw new ApiError(res.status, await res.json().catch(() => null));
      delay = 1000;
      await readEvents(res.body, generation);
    } catch (err) {
      if (generation !== state.streamGeneration) return;
      if (err instanceof ApiError) notice(`Live updates paused: ${err.message}`, "error");
    }
    if (generation !== state.streamGeneration) return;
    setLive(false);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 15000);
  }
}

async function readEvents(body, generation) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let name = "message";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done || generation !== state.streamGeneration) return;
    buffer += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (data.length) dispatch(name, data.join("\n"));
        name = "message";
        data = [];
      } else if (line.startsWith(":")) {
        // a keep-alive comment
      } else {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = val;
        else if (field === "data") data.push(val);
      }
    }
  }
}

function dispatch(name, raw) {
  let payload;
  try {
    payload = JSON.parse(raw);
  } catch {
    return;
  }
  if (name === "ready") return onReady(payload);
  onSessionEvent(payload);
}

async function onReady(scope) {
  const first = state.scope === null;
  state.scope = scope;
  setLive(true);
  const scopeNode = $("scope");
  scopeNode.textContent = scope.scope === "admin" ? "admin" : "session key";
  show(scopeNode, true);
  show($("sign-out"), true);
  show($("create-toggle"), scope.scope === "admin");
  // Whatever was missed while disconnected is read again from the REST routes.
  await loadSessions();
  if (first) notice("");
  route();
}

function onSessionEvent(ev) {
  const row = state.sessions.get(ev.sessionId);
  switch (ev.event) {
    case "session.state":
      if (!row) {
        loadSessionsSoon();
        return;
      }
      Object.assign(row, { state: ev.data.state, phoneNumber: ev.data.phoneNumber, lastActivity: ev.data.lastActivity || row.lastActivity });
      renderRow(row);
      if (state.page?.id === ev.sessionId) {
        Object.assign(state.page.session, row, { reason: ev.data.reason });
        renderSessionHeader();
        addEvent({ from: ev.data.previousState, to: ev.data.state, reason: ev.data.reason, at: ev.timestamp }, true);
        renderLink();
        if (ev.data.state === "logged_out") refreshCounts();
      }
      return;
    case "session.qr":
      if (state.page?.id === ev.sessionId) loadQr();
      return;
    case "session.contacts":
    case "session.chats":
      if (state.page?.id === ev.sessionId) refreshCountsSoon();
      return;
    case "session.activity":
      if (row) {
        row.lastActivity = ev.data.lastActivity;
        renderRow(row);
        if (state.page?.id === ev.sessionId) {
          state.page.session.lastActivity = row.lastActivity;
          $("s-activity").textContent = formatTime(row.lastActivity);
        }
      }
      return;
    case "message.received":
    case "message.status":
      state.messageEvents = true;
      if (state.page?.id === ev.sessionId) onMessageEvent(ev.event, ev.data);
      return;
    case "session.deleted":
      state.sessions.delete(ev.sessionId);
      $(`row-${ev.sessionId}`)?.remove();
      renderEmpty();
      if (state.page?.id === ev.sessionId) {
        location.hash = "#/";
        notice("The session was deleted.");
      }
      return;
  }
}

// ---- the list ----

let listTimer = null;
function loadSessionsSoon() {
  clearTimeout(listTimer);
  listTimer = setTimeout(() => loadSessions().catch(errorNotice), 300);
}

async function loadSessions() {
  let list;
  if (state.scope.scope === "admin") {
    list = (await api("GET", "/sessions")).sessions;
  } else {
    list = [(await api("GET", `/sessions/${state.scope.sessionId}/status`)).session];
  }
  state.sessions = new Map(list.map((s) => [s.id, s]));
  const body = $("sessions-body");
  body.replaceChildren();
  for (const s of [...list].sort((a, b) => a.createdAt.localeCompare(b.createdAt))) renderRow(s);
  renderEmpty();
}

function renderEmpty() {
  show($("sessions-empty"), state.sessions.size === 0);
  show($("sessions"), state.sessions.size > 0);
}

function renderRow(s) {
  const id = `row-${s.id}`;
  let tr = $(id);
  if (!tr) {
    tr = el("tr", { id, "data-session": s.id });
    $("sessions-body").append(tr);
  }
  const badge = el("span");
  stateBadge(badge, s.state);
  tr.replaceChildren(
    el("td", { "data-label": "Name" }, [el("a", { href: `#/sessions/${s.id}`, className: "name", text: s.name })]),
    el("td", { "data-label": "State" }, [badge]),
    el("td", { "data-label": "Phone number", className: "phone", text: formatPhone(s.phoneNumber) }),
    el("td", { "data-label": "Last activity", className: "activity", text: formatTime(s.lastActivity) }),
    el("td", { "data-label": "Created", text: formatTime(s.createdAt) }),
  );
}

// ---- creating a session ----

async function createSession(event) {
  event.preventDefault();
  const name = $("create-name").value.trim();
  const webhookUrl = $("create-webhook").value.trim();
  const metadataText = $("create-metadata").value.trim();
  // The API refuses other names too (400 VALIDATION_ERROR); said here before a request is made.
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) {
    notice(`The name “${name}” is not allowed: use 1–64 letters, digits, “.”, “_” or “-”.`, "error");
    return;
  }
  const body = { name };
  if (webhookUrl) body.webhookUrl = webhookUrl;
  if (metadataText) {
    let metadata;
    try {
      metadata = JSON.parse(metadataText);
    } catch {
      notice("Metadata must be a JSON object, e.g. {\"plan\":\"premium\"}.", "error");
      return;
    }
    if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
      notice("Metadata must be a JSON object, e.g. {\"plan\":\"premium\"}.", "error");
      return;
    }
    body.metadata = metadata;
  }
  try {
    const created = await api("POST", "/sessions/create", body);
    notice("");
    $("create-form").reset();
    show($("create-form"), false);
    const s = { ...created.session, phoneNumber: null, lastActivity: created.session.createdAt, metadata: body.metadata ?? null };
    if (!state.sessions.has(s.id)) {
      state.sessions.set(s.id, s);
      renderRow(s);
      renderEmpty();
    }
    $("new-key-name").textContent = created.session.name;
    $("new-key-warning").textContent = created.warning;
    $("new-key-value").value = created.apiKey;
    $("new-key-secret").value = created.webhookSecret || "";
    $("new-key-copied").textContent = "";
    show($("new-key"), true);
  } catch (err) {
    errorNotice(err);
  }
}

async function copy(inputId, label) {
  const input = $(inputId);
  let ok = false;
  try {
    await navigator.clipboard.writeText(input.value);
    ok = true;
  } catch {
    // Plain http on another host: no clipboard API; select it and copy the old way.
    input.focus();
    input.select();
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
  }
  $("new-key-copied").textContent = ok ? `${label} copied.` : `Select the ${label.toLowerCase()} and copy it by hand.`;
}

function hideNewKey() {
  $("new-key-value").value = "";
  $("new-key-secret").value = "";
  show($("new-key"), false);
}

// ---- a session's page ----

function leavePage() {
  if (state.page?.qrUrl) URL.revokeObjectURL(state.page.qrUrl);
  closeChat();
  clearInterval(state.page?.poll);
  state.page = null;
}

async function openSession(id) {
  if (state.page?.id !== id) {
    leavePage();
    state.page = { id, session: null, qrUrl: null, qrSeq: 0, counts: 0, chats: [], chatsShown: "", contactNames: new Map(), chat: null, poll: setInterval(pollPage, POLL_MS) };
    $("events").replaceChildren();
    $("contacts").replaceChildren();
    $("chats").replaceChildren();
    $("s-name").textContent = "";
    $("s-state").textContent = "";
    $("pair-code").textContent = "";
    show($("pair-code"), false);
    show($("qr-box"), false);
    show($("linked"), false);
  }
  showView("session");
  const page = state.page;
  try {
    const { session } = await api("GET", `/sessions/${id}/status`);
    if (state.page !== page) return;
    page.session = session;
    state.sessions.set(id, { ...state.sessions.get(id), ...session });
    renderSessionHeader();
    renderLink();
    const { events } = await api("GET", `/sessions/${id}/events`);
    if (state.page !== page) return;
    $("events").replaceChildren();
    for (const e of events) addEvent(e, false);
    await refreshCounts();
    // Back after a reconnect: the open chat may have missed messages too.
    if (page.chat) await refreshChat();
  } catch (err) {
    if (state.page !== page) return;
    if (err instanceof ApiError && (err.status === 403 || err.status === 404)) {
      location.hash = "#/";
    }
    errorNotice(err);
  }
}

function renderSessionHeader() {
  const s = state.page?.session;
  if (!s) return;
  $("s-name").textContent = s.name;
  stateBadge($("s-state"), s.state);
  $("s-reason").textContent = s.reason ? `Reason: ${s.reason}` : "";
  $("s-phone").textContent = formatPhone(s.phoneNumber);
  $("s-activity").textContent = formatTime(s.lastActivity);
  $("s-created").textContent = formatTime(s.createdAt);
  $("s-metadata").textContent = s.metadata ? JSON.stringify(s.metadata) : "—";
  $("s-id").textContent = s.id;
  for (const button of document.querySelectorAll("[data-action]")) {
    const allowed = ACTIONS[button.dataset.action].allowed;
    button.disabled = allowed !== null && !allowed.includes(s.state);
  }
  document.title = `${s.name} · WhatsApp sessions`;
}

/** The link panel: the QR while waiting for a scan, "linked as" once linked, else why neither. */
function renderLink() {
  const s = state.page?.session;
  if (!s) return;
  const linked = s.phoneNumber && ["ready", "connecting", "disconnected"].includes(s.state);
  $("linked").textContent = linked ? `Linked as +${s.phoneNumber}` : "";
  show($("linked"), !!linked);
  show($("pair-form"), s.state === "qr_ready");
  if (s.state === "qr_ready") {
    $("qr-status").textContent = "";
    loadQr();
    return;
  }
  show($("qr-box"), false);
  show($("pair-code"), false);
  const why = {
    creating: "The session is being created…",
    starting: "The container is starting; the QR code follows in a moment…",
    connecting: "Connecting to WhatsApp…",
    ready: "",
    disconnected: "Disconnected; reconnecting by itself…",
    failed: "Failed to connect. Start it again for a new QR code.",
    stopped: "Stopped. Start it to connect again.",
    logged_out: "Logged out. Start it for a new QR code.",
  };
  $("qr-status").textContent = why[s.state] ?? "";
}

async function loadQr() {
  const page = state.page;
  if (!page || page.session?.state !== "qr_ready") return;
  const seq = ++page.qrSeq;
  try {
    const res = await fetch(`/sessions/${page.id}/qr?format=png`, { headers: { "X-API-Key": state.key }, cache: "no-store" });
    if (!res.ok) {
      // 409: the session moved on before the image was read; its state event follows.
      if (res.status !== 409) throw new ApiError(res.status, await res.json().catch(() => null));
      return;
    }
    const blob = await res.blob();
    if (state.page !== page || seq !== page.qrSeq || page.session.state !== "qr_ready") return;
    const url = URL.createObjectURL(blob);
    const img = $("qr");
    const old = page.qrUrl;
    page.qrUrl = url;
    img.src = url;
    img.dataset.seq = String(seq);
    if (old) URL.revokeObjectURL(old);
    show($("qr-box"), true);
  } catch (err) {
    errorNotice(err);
  }
}

async function requestPairingCode(event) {
  event.preventDefault();
  const page = state.page;
  if (!page) return;
  const phoneNumber = $("pair-phone").value.trim();
  try {
    const { code } = await api("POST", `/sessions/${page.id}/pairing-code`, { phoneNumber });
    const shown = code.length === 8 ? `${code.slice(0, 4)}-${code.slice(4)}` : code;
    $("pair-code").textContent = `Enter this code on the phone (Linked devices › Link with phone number): ${shown}`;
    show($("pair-code"), true);
    notice("");
  } catch (err) {
    errorNotice(err);
  }
}

function addEvent(e, newest) {
  const list = $("events");
  const item = el("li", {}, [
    el("time", { datetime: e.at, text: formatTime(e.at) }),
    el("span", { className: "transition", text: `${e.from ? STATE_LABELS[e.from] || e.from : "—"} → ${STATE_LABELS[e.to] || e.to}` }),
    el("span", { className: "reason", text: e.reason || "" }),
  ]);
  if (newest) list.prepend(item);
  else list.append(item);
  while (list.children.length > 100) list.lastElementChild.remove();
}

let countsTimer = null;
function refreshCountsSoon() {
  clearTimeout(countsTimer);
  countsTimer = setTimeout(() => refreshCounts().catch(errorNotice), 500);
}

async function refreshCounts() {
  const page = state.page;
  if (!page) return;
  const [{ contacts }, { chats }] = await Promise.all([api("GET", `/sessions/${page.id}/contacts`), api("GET", `/sessions/${page.id}/chats`)]);
  if (state.page !== page) return;
  $("s-contacts").textContent = String(contacts.length);
  page.contactNames = new Map(contacts.map((c) => [c.id, c.name || c.notify || c.verifiedName]).filter(([, name]) => name));
  renderChats(chats);
  const shown = contacts.slice(0, 50).map((c) => el("li", { text: c.name || c.notify || c.verifiedName || (c.phone ? `+${c.phone}` : c.id) }));
  if (contacts.length > shown.length) shown.push(el("li", { className: "hint", text: `… and ${contacts.length - shown.length} more` }));
  $("contacts").replaceChildren(...shown);
  if (contacts.length === 0) $("contacts").replaceChildren(el("li", { className: "hint", text: "None synced yet." }));
}

function confirmAction(action) {
  const dialog = $("confirm");
  $("confirm-text").textContent = CONFIRM[action].text;
  $("confirm-ok").textContent = CONFIRM[action].ok;
  $("confirm-ok").className = action === "start" ? "" : "danger";
  return new Promise((resolve) => {
    const done = (answer) => {
      $("confirm-ok").removeEventListener("click", ok);
      $("confirm-cancel").removeEventListener("click", cancel);
      dialog.removeEventListener("cancel", cancel);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const ok = () => done(true);
    const cancel = () => done(false);
    $("confirm-ok").addEventListener("click", ok);
    $("confirm-cancel").addEventListener("click", cancel);
    dialog.addEventListener("cancel", cancel);
    dialog.showModal();
  });
}

async function runAction(action) {
  const page = state.page;
  if (!page) return;
  if (!(await confirmAction(action))) return;
  const spec = ACTIONS[action];
  const buttons = document.querySelectorAll("[data-action]");
  for (const b of buttons) b.disabled = true;
  notice(`${CONFIRM[action].ok}…`);
  try {
    const { message } = await api(spec.method, spec.path(page.id));
    notice(message);
    if (action === "delete") {
      state.sessions.delete(page.id);
      $(`row-${page.id}`)?.remove();
      renderEmpty();
      location.hash = "#/";
      return;
    }
    if (state.page === page) {
      const { session } = await api("GET", `/sessions/${page.id}/status`);
      if (state.page !== page) return;
      Object.assign(page.session, session);
      renderSessionHeader();
      renderLink();
    }
  } catch (err) {
    errorNotice(err);
    if (state.page === page) renderSessionHeader();
  }
}

// ---- chats and messages ----

/** Messages read per page of a chat. */
const PAGE_SIZE = 50;
/**
 * The event stream does not carry message events yet (docs/events.md): until it has carried one,
 * the open session page re-reads its chats and the open chat this often, while the tab is seen.
 */
const POLL_MS = 5000;
/** The kinds of file that take a caption (the API refuses one on the others). */
const CAPTIONED = ["image", "video", "document"];
const MEDIA_LABELS = { image: "Image", video: "Video", audio: "Audio", voice: "Voice note", document: "Document", sticker: "Sticker" };

function formatSeconds(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : "";
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A person's jid as their number; a group's (or anything else) as it is. */
function jidLabel(jid) {
  const m = /^(\d+)@s\.whatsapp\.net$/.exec(jid);
  return m ? `+${m[1]}` : jid;
}

function chatLabel(page, c) {
  return c.name || page.contactNames.get(c.id) || jidLabel(c.id);
}

const isOpen = (page, chat) => state.page === page && page.chat === chat;

function messagesPath(sessionId, chatId, before) {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (before) query.set("before", before);
  return `/sessions/${sessionId}/chats/${encodeURIComponent(chatId)}/messages?${query}`;
}

// The chat list.

let chatsTimer = null;
function loadChatsSoon() {
  clearTimeout(chatsTimer);
  chatsTimer = setTimeout(() => loadChats().catch(errorNotice), 300);
}

async function loadChats() {
  const page = state.page;
  if (!page) return;
  const { chats } = await api("GET", `/sessions/${page.id}/chats`);
  if (state.page === page) renderChats(chats);
}

function renderChats(chats) {
  const page = state.page;
  $("s-chats").textContent = String(chats.length);
  page.chats = chats;
  // Unchanged (most polls): leave the buttons alone, so focus and scrolling stay where they are.
  const shown = JSON.stringify([chats, [...page.contactNames]]);
  if (shown === page.chatsShown) return;
  page.chatsShown = shown;
  const items = chats.map((c) => {
    const button = el("button", { type: "button", className: "chat-item", "data-chat": c.id }, [
      el("span", { className: "chat-name", text: chatLabel(page, c) }),
      el("time", { className: "chat-when", text: formatSeconds(c.timestamp) }),
    ]);
    if (c.unreadCount > 0) button.append(el("span", { className: "unread", title: "unread messages", text: String(c.unreadCount) }));
    button.addEventListener("click", () => openChat(c.id));
    return el("li", {}, [button]);
  });
  $("chats").replaceChildren(...(items.length ? items : [el("li", { className: "hint", text: "No chats yet." })]));
  markOpenChat();
}

function markOpenChat() {
  const open = state.page?.chat?.id;
  for (const button of $("chats").querySelectorAll("[data-chat]")) {
    if (button.dataset.chat === open) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

// A chat's messages, newest first. Each shown message is an entry { m, node, status, url, gone }:
// its node is kept while the message's media state stays the same, so a refresh moves nodes and
// updates statuses without fetching an image again.

function openChat(chatId) {
  const page = state.page;
  if (!page) return;
  if (page.chat?.id !== chatId) {
    closeChat();
    page.chat = { id: chatId, ids: [], entries: new Map(), cursor: null, busy: false, again: false };
  }
  const c = page.chats.find((x) => x.id === chatId);
  $("chat-title").textContent = c ? chatLabel(page, c) : jidLabel(chatId);
  markOpenChat();
  show($("chat"), true);
  refreshChat().catch(errorNotice);
}

function closeChat() {
  const chat = state.page?.chat;
  if (!chat) return;
  for (const entry of chat.entries.values()) forget(entry);
  state.page.chat = null;
  $("messages").replaceChildren();
  $("send-text").reset();
  $("send-file").reset();
  sendStatus("");
  show($("messages-older"), false);
  show($("chat"), false);
  markOpenChat();
}

/** An entry no longer shown: its image's blob: URL goes, and an image still loading is dropped. */
function forget(entry) {
  entry.gone = true;
  if (entry.url) URL.revokeObjectURL(entry.url);
  entry.url = null;
}

let chatTimer = null;
function refreshChatSoon() {
  clearTimeout(chatTimer);
  chatTimer = setTimeout(() => refreshChat().catch(errorNotice), 300);
}

/** Reads the newest page again; a refresh asked for while one runs runs once more after it. */
async function refreshChat() {
  const page = state.page;
  const chat = page?.chat;
  if (!chat) return;
  if (chat.busy) {
    chat.again = true;
    return;
  }
  chat.busy = true;
  try {
    do {
      chat.again = false;
      const res = await api("GET", messagesPath(page.id, chat.id));
      if (!isOpen(page, chat)) return;
      mergeNewest(page, chat, res);
      renderMessages(chat);
    } while (chat.again && isOpen(page, chat));
  } finally {
    chat.busy = false;
  }
}

/**
 * The newest page is the truth for the newest messages; older ones already shown stay after it.
 * A page that shares no message with what is shown (many came since) starts the list afresh.
 */
function mergeNewest(page, chat, res) {
  const inPage = new Set(res.messages.map((m) => m.id));
  const overlap = chat.ids.some((id) => inPage.has(id));
  const older = overlap ? chat.ids.filter((id) => !inPage.has(id)) : [];
  if (!overlap) chat.cursor = res.nextCursor;
  for (const m of res.messages) upsert(page, chat, m);
  chat.ids = [...inPage, ...older];
  dropUnlisted(chat);
}

async function loadOlder() {
  const page = state.page;
  const chat = page?.chat;
  if (!chat?.cursor) return;
  const button = $("messages-older");
  button.disabled = true;
  try {
    const res = await api("GET", messagesPath(page.id, chat.id, chat.cursor));
    if (!isOpen(page, chat)) return;
    for (const m of res.messages) {
      if (chat.entries.has(m.id)) continue;
      upsert(page, chat, m);
      chat.ids.push(m.id);
    }
    chat.cursor = res.nextCursor;
    renderMessages(chat);
  } finally {
    button.disabled = false;
  }
}

/** What of a message its node shows besides the status: a change to it draws the node again. */
const shownOf = (m) => JSON.stringify([m.media?.state ?? null, m.text, m.caption, m.revoked, m.editedAt, m.reactions, m.poll?.votes]);

function upsert(page, chat, m) {
  const entry = chat.entries.get(m.id);
  if (entry && shownOf(entry.m) === shownOf(m)) {
    entry.m = m;
    setStatus(entry);
    return;
  }
  if (entry) forget(entry);
  const fresh = { m, node: null, status: null, url: null, gone: false };
  fresh.node = messageNode(page, chat, fresh);
  chat.entries.set(m.id, fresh);
}

function dropUnlisted(chat) {
  const listed = new Set(chat.ids);
  for (const [id, entry] of chat.entries) {
    if (listed.has(id)) continue;
    forget(entry);
    chat.entries.delete(id);
  }
}

/** Puts the entries' nodes in order, moving only what moved (scrolling and loaded images stay). */
function renderMessages(chat) {
  const list = $("messages");
  const nodes = chat.ids.map((id) => chat.entries.get(id).node);
  if (nodes.length === 0) nodes.push(el("li", { className: "hint", text: "No messages yet." }));
  nodes.forEach((node, i) => {
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] ?? null);
  });
  while (list.children.length > nodes.length) list.lastElementChild.remove();
  show($("messages-older"), !!chat.cursor);
}

function messageNode(page, chat, entry) {
  const { m } = entry;
  const li = el("li", { className: `msg ${m.fromMe ? "out" : "in"}`, "data-id": m.id, "data-type": m.type });
  // In a group, who wrote it.
  if (m.author) li.append(el("p", { className: "author", text: m.author }));
  if (m.revoked) li.append(el("p", { className: "text revoked", text: "This message was deleted" }));
  else if (m.media) li.append(mediaNode(page, chat, entry));
  else li.append(el("p", { className: "text", text: m.text ?? kindText(m) }));
  if (m.media && m.caption) li.append(el("p", { className: "caption", text: m.caption }));
  if (m.poll) li.append(pollNode(m.poll));
  if (m.reactions?.length) li.append(el("p", { className: "reactions", text: m.reactions.map((r) => `${r.emoji} ${r.from}`).join("  ") }));
  const meta = el("p", { className: "meta" }, [el("time", { text: formatSeconds(m.timestamp) })]);
  if (m.editedAt) meta.prepend(el("span", { className: "edited", text: "edited" }));
  if (m.fromMe) {
    entry.status = el("span");
    meta.append(entry.status);
    setStatus(entry);
  }
  li.append(meta);
  return li;
}

/** What a location, contact cards or a poll say, where a text would be. */
function kindText(m) {
  if (m.location) {
    const { latitude, longitude, name, address } = m.location;
    return `📍 ${[name, address].filter(Boolean).join(", ") || "Location"} (${latitude.toFixed(5)}, ${longitude.toFixed(5)})`;
  }
  if (m.contacts) return m.contacts.map((c) => `👤 ${c.name}${c.phoneNumber ? ` +${c.phoneNumber}` : ""}`).join("\n");
  if (m.poll) return `📊 ${m.poll.question}`;
  return `(${m.type})`;
}

/** A poll's options in order, each with how many chose it. */
function pollNode(poll) {
  return el(
    "ul",
    { className: "poll" },
    poll.votes.map((v) => el("li", { "data-option": v.option, text: `${v.option}: ${v.voters.length}` })),
  );
}

/** A sent message's status: pending, sent, delivered, read or failed. */
function setStatus(entry) {
  if (!entry.status) return;
  entry.status.textContent = entry.m.status;
  entry.status.className = `status status-${entry.m.status}`;
  entry.status.dataset.status = entry.m.status;
}

/** An image shown inline; other files as a download; a file not (or no longer) stored as its state. */
function mediaNode(page, chat, entry) {
  const { m } = entry;
  const label = MEDIA_LABELS[m.type] || m.type;
  if (m.media.state !== "stored") {
    const reason = m.media.state === "failed" && m.media.reason ? `: ${m.media.reason}` : "";
    return el("p", { className: "media-state", "data-state": m.media.state, text: `${label} ${m.media.state}${reason}` });
  }
  if (m.type === "image") {
    const img = el("img", { className: "media-image", alt: m.caption || label });
    if (m.media.width && m.media.height) Object.assign(img, { width: m.media.width, height: m.media.height });
    showImage(chat, entry, img, label);
    return img;
  }
  const name = m.media.fileName ? `${m.media.fileName}, ` : "";
  const button = el("button", { type: "button", className: "download", text: `Download ${label.toLowerCase()} (${name}${formatBytes(m.media.size)})` });
  button.addEventListener("click", () => download(entry, button));
  return button;
}

/** A media file's bytes, fetched with the key (an <img src> or a link could not send it). */
async function mediaFetch(m) {
  const res = await fetch(m.media.url, { headers: { "X-API-Key": state.key }, cache: "no-store" });
  if (res.ok) return res;
  const body = await res.json().catch(() => null);
  if (res.status === 401) signOut("That key is not valid (any more). Sign in again.");
  throw new ApiError(res.status, body);
}

async function showImage(chat, entry, img, label) {
  try {
    const blob = await (await mediaFetch(entry.m)).blob();
    if (entry.gone) return;
    entry.url = URL.createObjectURL(blob);
    img.src = entry.url;
  } catch (err) {
    if (entry.gone) return;
    // 404 MEDIA_NOT_FOUND names the media's state (expired since the page was read, say).
    const why = err instanceof ApiError && typeof err.body?.state === "string" ? err.body.state : errorText(err);
    img.replaceWith(el("p", { className: "media-state", "data-state": "error", text: `${label}: ${why}` }));
  }
}

async function download(entry, button) {
  button.disabled = true;
  try {
    const res = await mediaFetch(entry.m);
    const url = URL.createObjectURL(await res.blob());
    const link = el("a", { href: url, download: downloadName(entry.m, res) });
    document.body.append(link);
    link.click();
    link.remove();
    // Shown nowhere: gone once the browser has surely taken the bytes for the download.
    setTimeout(() => URL.revokeObjectURL(url), 30_000);
  } catch (err) {
    errorNotice(err);
  } finally {
    button.disabled = false;
  }
}

/** A document's own name, else the one the media route gives (sha256 prefix and extension). */
function downloadName(m, res) {
  if (m.media.fileName) return m.media.fileName;
  const given = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") || "");
  return given ? given[1] : m.type;
}

function onMessageEvent(name, data) {
  if (name === "message.received") loadChatsSoon();
  const chat = state.page.chat;
  if (!chat || data?.chatId !== chat.id) return;
  const entry = name === "message.status" ? chat.entries.get(data.id) : undefined;
  if (entry) {
    entry.m = { ...entry.m, status: data.status };
    setStatus(entry);
  } else {
    refreshChatSoon();
  }
}

function pollPage() {
  const page = state.page;
  if (!page || state.messageEvents || document.hidden) return;
  // Quiet: a failed poll is tried again in a moment, and a bad key signs out in api().
  loadChats().catch(() => {});
  if (page.chat) refreshChat().catch(() => {});
}

// Sending.

function sendStatus(text, error = false) {
  const node = $("send-status");
  node.textContent = text;
  node.className = error ? "send-error" : "hint";
}

/** The kind of message a file goes as, from the type the browser gives it. */
function mediaKind(mimetype) {
  if (mimetype === "image/webp") return "sticker";
  return { image: "image", video: "video", audio: "audio" }[mimetype.split("/")[0]] || "document";
}

async function sendText(event) {
  event.preventDefault();
  const page = state.page;
  const chat = page?.chat;
  if (!chat) return;
  if (await send(page, chat, { to: chat.id, text: $("send-text-input").value }, $("send-text"))) $("send-text").reset();
}

async function sendFile(event) {
  event.preventDefault();
  const page = state.page;
  const chat = page?.chat;
  const file = $("send-file-input").files[0];
  if (!chat || !file) return;
  const type = mediaKind(file.type);
  const caption = $("send-file-caption").value;
  if (caption && !CAPTIONED.includes(type)) {
    sendStatus(`A file sent as ${type} takes no caption: leave it empty.`, true);
    return;
  }
  // The file goes as the form's `file` part: never read whole into the page, nor base64 in the API.
  const body = new FormData();
  body.set("to", chat.id);
  body.set("type", type);
  if (type === "document") body.set("fileName", file.name);
  if (caption) body.set("caption", caption);
  body.set("file", file, file.name);
  if (await send(page, chat, body, $("send-file"))) $("send-file").reset();
}

/** Sends, shows the sent message at the top, or the API's error; answers whether it went. */
async function send(page, chat, body, form) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  sendStatus("Sending…");
  try {
    const { message } = await api("POST", `/sessions/${page.id}/messages`, body);
    if (!isOpen(page, chat)) return true;
    sendStatus("");
    upsert(page, chat, message);
    if (!chat.ids.includes(message.id)) chat.ids.unshift(message.id);
    renderMessages(chat);
    $("messages").scrollTop = 0;
    loadChatsSoon();
    return true;
  } catch (err) {
    if (isOpen(page, chat)) sendStatus(`Not sent: ${errorText(err)}`, true);
    return false;
  } finally {
    button.disabled = false;
  }
}

// ---- routing ----

function route() {
  if (!state.key || !state.scope) return;
  const match = /^#\/sessions\/([0-9a-fA-F-]{36})$/.exec(location.hash);
  if (match) {
    const id = match[1].toLowerCase();
    // A session key reaches only its own session (the API answers 403 for any other).
    if (state.scope.scope === "session" && id !== state.scope.sessionId) {
      notice("This key reaches only its own session.", "error");
      location.hash = "#/";
      return;
    }
    openSession(id);
    return;
  }
  leavePage();
  document.title = "Sessions · WhatsApp sessions";
  showView("list");
}

function start() {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("key");
    const key = input.value.trim();
    input.value = "";
    if (!/^wa[sm]k_[0-9a-f]{48}$/.test(key)) {
      notice("A key looks like wamk_… (admin) or wask_… (session) followed by 48 hex digits.", "error");
      return;
    }
    signIn(key);
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("create-toggle").addEventListener("click", () => {
    show($("create-form"), $("create-form").hidden);
    if (!$("create-form").hidden) $("create-name").focus();
  });
  $("create-cancel").addEventListener("click", () => show($("create-form"), false));
  $("create-form").addEventListener("submit", createSession);
  $("new-key-copy").addEventListener("click", () => copy("new-key-value", "API key"));
  $("new-key-secret-copy").addEventListener("click", () => copy("new-key-secret", "Webhook secret"));
  $("new-key-done").addEventListener("click", hideNewKey);
  $("pair-form").addEventListener("submit", requestPairingCode);
  $("chat-close").addEventListener("click", closeChat);
  $("send-text").addEventListener("submit", sendText);
  $("send-file").addEventListener("submit", sendFile);
  $("messages-older").addEventListener("click", () => loadOlder().catch(errorNotice));
  for (const button of document.querySelectorAll("[data-action]")) button.addEventListener("click", () => runAction(button.dataset.action));
  window.addEventListener("hashchange", route);

  const saved = sessionStorage.getItem(KEY_STORAGE);
  if (saved) {
    state.key = saved;
    showView(null);
    openStream();
  } else {
    showView("signin");
  }
}

start();
