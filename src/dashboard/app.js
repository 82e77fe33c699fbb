// The dashboard's one script. It holds no privilege of its own: every read and action is a call
// to the REST API with the key the user gave (kept in this tab's sessionStorage only), and live
// updates come from GET /events, read with fetch() so the key travels in the X-API-Key header.
// User data (session names, contact names, metadata, reasons) only ever goes into textContent.

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
};

class ApiError extends Error {
  constructor(status, body) {
    super(body && typeof body.error === "string" ? body.error : `HTTP ${status}`);
    this.status = status;
    this.code = body && typeof body.code === "string" ? body.code : "HTTP_" + status;
  }
}

async function api(method, path, body) {
  const headers = { "X-API-Key": state.key };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
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

function errorNotice(err) {
  notice(err instanceof ApiError ? `${err.message} (${err.code})` : String(err && err.message ? err.message : err), "error");
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
  state.page = null;
}

async function openSession(id) {
  if (state.page?.id !== id) {
    leavePage();
    state.page = { id, session: null, qrUrl: null, qrSeq: 0, counts: 0 };
    $("events").replaceChildren();
    $("contacts").replaceChildren();
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
  $("s-chats").textContent = String(chats.length);
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
