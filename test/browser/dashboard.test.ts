// The dashboard at /dashboard in a real browser (Debian's headless chromium via playwright-core),
// against the real API, rootless Podman running the sandbox image, and the WhatsApp emulator:
// sign in, create a session, see its QR image refresh, scan it through the emulator's control
// API, watch the page turn to "linked" without a reload, stop and start it, see its recent events
// numbered in full past the ninth, delete it; a session key sees only its session; user data
// renders as text. Each step leaves a screenshot in test-artifacts/dashboard/, and no page may log
// a console error or open a dialog.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import jsQR from "jsqr";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import type { RunningEmulator } from "../emulator";
import { startTestApi, type TestApi } from "../support/api";
import { launchChromium, watchPage, type PageWatch } from "../support/browser";
import { emulatorControl, startEmulatorForContainers } from "../support/emulator";
import { waitFor } from "../support/env";

const ARTIFACTS = join(import.meta.dir, "../../test-artifacts/dashboard");
const PHONE = "4915112340071";
const FRIEND = "4915112340072";
const XSS = "<img src=x onerror=alert(1)>";
const KEY_WARNING = "IMPORTANT: Save this API key securely! It will NOT be shown again.";

describe("the dashboard", () => {
  let emu: RunningEmulator;
  let t: TestApi;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let watch: PageWatch;
  let shots = 0;
  let sessionId = "";
  let loads = 0;

  const control = (method: string, path: string, body?: unknown) => emulatorControl(emu)(method, path, body);
  const shot = async (p: Page, name: string) => {
    await p.screenshot({ path: join(ARTIFACTS, `${String(++shots).padStart(2, "0")}-${name}.png`), fullPage: true });
  };
  /** The QR the page shows, decoded from the image's pixels, with the image's sequence number. */
  const shownQr = async () => {
    const pixels = await page.evaluate(() => {
      const img = document.getElementById("qr") as HTMLImageElement;
      const canvas = document.createElement("canvas");
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext("2d")!;
      ctx.drawImage(img, 0, 0);
      return { width: canvas.width, height: canvas.height, data: Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data), seq: img.dataset.seq ?? "" };
    });
    const decoded = jsQR(new Uint8ClampedArray(pixels.data), pixels.width, pixels.height);
    return { qr: decoded?.data ?? null, seq: pixels.seq };
  };
  const confirmWith = async (p: Page, action: string) => {
    await p.click(`[data-action="${action}"]`);
    await p.locator("#confirm").waitFor({ state: "visible" });
    await shot(p, `confirm-${action}`);
    await p.click("#confirm-ok");
  };
  const stateShown = (p: Page, state: string, timeout = 30_000) => p.locator(`#s-state[data-state="${state}"]`).waitFor({ timeout });

  beforeAll(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    emu = await startEmulatorForContainers();
    // The phone's address book carries a name that is markup: it must show as text.
    await control("PUT", `/control/phones/${PHONE}/history`, {
      contacts: [
        { id: `${FRIEND}@s.whatsapp.net`, name: XSS, notify: "Friend" },
        { id: "4915112340073@s.whatsapp.net", name: "Jane Roe", notify: "Jane" },
      ],
      chats: [{ id: `${FRIEND}@s.whatsapp.net`, name: XSS, isGroup: false, unreadCount: 1, timestamp: 1706443200 }],
    });
    // A new QR every 4 s, so the page must show several in turn.
    t = await startTestApi("pglite", { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, QR_TIMEOUT_SECONDS: "4" });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, permissions: ["clipboard-read", "clipboard-write"] });
    page = await context.newPage();
    watch = watchPage(page);
    page.on("load", () => loads++);
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await emu?.stop();
  });

  test("is served by the API with a strict Content-Security-Policy and nothing from another origin", async () => {
    const response = await page.goto(`${t.url}/dashboard`, { waitUntil: "load" });
    expect(response?.status()).toBe(200);
    const headers = response!.headers();
    expect(headers["content-type"]).toBe("text/html; charset=utf-8");
    const csp = headers["content-security-policy"]!;
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' blob:", "frame-ancestors 'none'", "require-trusted-types-for 'script'"]) {
      expect(csp).toContain(directive);
    }
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toContain("unsafe-eval");
    const html = await response!.text();
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script>|<style>|\sstyle=|\son[a-z]+=/i); // no inline script, style or handlers
    for (const [path, type] of [
      ["/dashboard/app.js", "text/javascript; charset=utf-8"],
      ["/dashboard/app.css", "text/css; charset=utf-8"],
    ]) {
      const asset = await fetch(t.url + path);
      expect(asset.status).toBe(200);
      expect(asset.headers.get("content-type")).toBe(type!);
      expect(asset.headers.get("x-content-type-options")).toBe("nosniff");
    }
    await page.locator("#signin-view").waitFor();
    await expect(page.locator("#key").getAttribute("type")).resolves.toBe("password");
    await shot(page, "sign-in");
  });

  test("signs in with the admin key, kept in the tab's session storage only", async () => {
    await page.fill("#key", t.adminKey);
    await page.click("#signin-form button[type=submit]");
    await page.locator("#list-view").waitFor();
    await page.locator("#live.on").waitFor();
    await expect(page.locator("#scope").textContent()).resolves.toBe("admin");
    expect(await page.evaluate(() => sessionStorage.getItem("wa-dashboard.apiKey"))).toBe(t.adminKey);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    expect(await context.cookies()).toEqual([]);
    expect(page.url()).not.toContain(t.adminKey);
    // The key went in the header only: no request carried it in its URL.
    expect(watch.requests.filter((r) => r.includes(t.adminKey))).toEqual([]);
    await expect(page.locator("#sessions-empty").isVisible()).resolves.toBe(true);
    await shot(page, "signed-in-empty-list");
  });

  test("creates a session and shows its key once, with the contract's warning and a copy button", async () => {
    await page.click("#create-toggle");
    await page.fill("#create-name", "dash-phone");
    await page.fill("#create-webhook", "http://127.0.0.1:9/hook");
    await page.fill("#create-metadata", JSON.stringify({ plan: "premium", note: XSS }));
    await shot(page, "create-form");
    await page.click("#create-form button[type=submit]");
    await page.locator("#new-key").waitFor();
    const key = await page.inputValue("#new-key-value");
    expect(key).toMatch(/^wask_[0-9a-f]{48}$/);
    await expect(page.locator("#new-key-warning").textContent()).resolves.toBe(KEY_WARNING);
    await expect(page.locator("#new-key-secret").inputValue()).resolves.toMatch(/^whsec_/);
    await page.click("#new-key-copy");
    await page.locator("#new-key-copied", { hasText: "API key copied." }).waitFor({ timeout: 5000 });
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
    await shot(page, "created-key-shown-once");

    const row = page.locator("#sessions-body tr", { hasText: "dash-phone" });
    await row.waitFor();
    sessionId = (await row.getAttribute("data-session"))!;
    // Live: the row moves on from `starting` by itself (the state is colour-coded by class).
    await row.locator(".state-qr_ready").waitFor({ timeout: 30_000 });
    await page.click("#new-key-done");
    await expect(page.locator("#new-key").isVisible()).resolves.toBe(false);
    // Shown once: gone from the page once dismissed.
    expect(await page.content()).not.toContain(key);
    await shot(page, "list-qr-ready");
    const status = await t.call("GET", `/sessions/${sessionId}/status`, { key });
    expect(status.body.session).toMatchObject({ name: "dash-phone", metadata: { plan: "premium", note: XSS } });
  });

  test("a session's page shows its QR as an image that refreshes itself with each new code", async () => {
    const loadsBefore = loads;
    await page.click(`#row-${sessionId} a.name`);
    await page.locator("#session-view").waitFor();
    await expect(page.locator("#s-name").textContent()).resolves.toBe("dash-phone");
    // Metadata is user data: shown as text.
    await expect(page.locator("#s-metadata").textContent()).resolves.toContain(XSS);
    await page.locator("#qr-box").waitFor();
    await page.waitForFunction(() => {
      const img = document.getElementById("qr") as HTMLImageElement;
      return img.src.startsWith("blob:") && img.complete && img.naturalWidth > 0;
    });
    const first = await shownQr();
    expect(first.qr).toStartWith("https://wa.me/settings/linked_devices#");
    await shot(page, "session-qr");
    // The sandbox rotates the code every 4 s: the image follows without being asked.
    const next = await waitFor(async () => {
      const now = await shownQr();
      return now.qr && now.qr !== first.qr && now.seq !== first.seq ? now : undefined;
    }, 15_000, "the next QR in the page");
    expect(next.qr).toStartWith("https://wa.me/settings/linked_devices#");
    expect(loads).toBe(loadsBefore);
    await shot(page, "session-qr-refreshed");
  });

  test("scanning the shown QR with the emulator's phone turns the page to linked, without a reload", async () => {
    const loadsBefore = loads;
    await page.evaluate(() => ((window as any).__notReloaded = true));
    const { qr } = await shownQr();
    const scan = await control("POST", "/control/scan", { qr, phoneNumber: PHONE, pushName: "Dashboard Phone" });
    expect(scan.status).toBe(200);
    await page.locator("#linked", { hasText: `Linked as +${PHONE}` }).waitFor({ timeout: 30_000 });
    await stateShown(page, "ready");
    await expect(page.locator("#qr-box").isVisible()).resolves.toBe(false);
    await expect(page.locator("#s-phone").textContent()).resolves.toBe(`+${PHONE}`);
    expect(await page.evaluate(() => (window as any).__notReloaded)).toBe(true);
    expect(loads).toBe(loadsBefore);
    // Recent events: the state changes, newest first.
    await page.locator("#events li .transition", { hasText: "→ ready" }).first().waitFor();
    // Contacts and chats arrive from the phone; a name that is markup shows as text.
    await page.locator("#s-contacts", { hasText: "2" }).waitFor({ timeout: 20_000 });
    await page.locator("#s-chats", { hasText: "1" }).waitFor({ timeout: 20_000 });
    await page.locator("#contacts li", { hasText: XSS }).waitFor({ timeout: 20_000 });
    await expect(page.locator("#contacts li").count()).resolves.toBe(2);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    await shot(page, "session-linked");
  });

  test("stop and start, each after a confirmation; the state follows live", async () => {
    await confirmWith(page, "stop");
    await stateShown(page, "stopped");
    await page.locator("#events li .reason", { hasText: "stopped by request" }).first().waitFor();
    await expect(page.locator('[data-action="start"]').isDisabled()).resolves.toBe(false);
    await shot(page, "session-stopped");
    await confirmWith(page, "start");
    // The volume kept the link: back to ready with no new QR.
    await stateShown(page, "ready", 45_000);
    await page.locator("#linked", { hasText: `Linked as +${PHONE}` }).waitFor();
    await shot(page, "session-started-ready");
  });

  test("recent events number each entry in full, the tenth and later ones too", async () => {
    // Each stop and start adds state changes (ready → stopped → starting → … → ready), shown live.
    const events = page.locator("#events li");
    for (let round = 0; (await events.count()) < 10; round++) {
      expect(round).toBeLessThan(4);
      expect((await t.call("POST", `/sessions/${sessionId}/stop`)).status).toBe(200);
      await stateShown(page, "stopped");
      expect((await t.call("POST", `/sessions/${sessionId}/start`)).status).toBe(200);
      await stateShown(page, "ready", 45_000);
    }
    await page.locator("#events li .transition", { hasText: "→ ready" }).first().waitFor();
    const shown = await events.count();
    expect(shown).toBeGreaterThanOrEqual(10);
    // The list scrolls, so it clips what sticks out of its padding box on the left, where each
    // item's number sits, right-aligned to the item. Measured in the marker's own font: the ink of
    // every number ("10." included) must lie inside that box, and the padding must hold "100. " in
    // full, as the list keeps up to 100 events.
    const markers = await page.evaluate(() => {
      const list = document.getElementById("events")!;
      const inner = list.getBoundingClientRect().left + list.clientLeft;
      const ctx = document.createElement("canvas").getContext("2d")!;
      const measure = (node: Element, text: string) => {
        const f = getComputedStyle(node, "::marker");
        ctx.font = `${f.fontStyle} ${f.fontWeight} ${f.fontSize} ${f.fontFamily}`;
        return ctx.measureText(text);
      };
      const items = Array.from(list.children, (li, i) => {
        const m = measure(li, `${i + 1}. `);
        // Where the number's ink starts, counted from the list's inner left edge.
        return { marker: `${i + 1}.`, inkLeft: li.getBoundingClientRect().left - inner - m.width - m.actualBoundingBoxLeft };
      });
      return { items, padding: parseFloat(getComputedStyle(list).paddingLeft), widest: measure(list.children[0]!, "100. ").width };
    });
    expect(markers.items).toHaveLength(shown);
    expect(markers.items.filter((m) => m.inkLeft < 0)).toEqual([]);
    expect(markers.padding).toBeGreaterThanOrEqual(markers.widest);
    // The tenth shown in the list's visible part for the screenshot (it scrolls past 22rem).
    await events.nth(9).scrollIntoViewIfNeeded();
    expect(
      await page.evaluate(() => {
        const list = document.getElementById("events")!.getBoundingClientRect();
        const tenth = document.querySelectorAll("#events li")[9]!.getBoundingClientRect();
        return tenth.top >= list.top && tenth.bottom <= list.bottom;
      }),
    ).toBe(true);
    await shot(page, "session-ten-events");
    await page.locator("#events").screenshot({ path: join(ARTIFACTS, `${String(++shots).padStart(2, "0")}-events-list.png`) });
  });

  test("cancelling the confirmation does nothing; delete after confirming removes it", async () => {
    await page.click('[data-action="delete"]');
    await page.locator("#confirm").waitFor({ state: "visible" });
    await page.click("#confirm-cancel");
    await expect(page.locator("#confirm").isVisible()).resolves.toBe(false);
    expect((await t.call("GET", `/sessions/${sessionId}/status`)).status).toBe(200);

    await confirmWith(page, "delete");
    await page.waitForURL((url) => url.hash === "#/");
    await page.locator("#list-view").waitFor();
    await page.locator(`#row-${sessionId}`).waitFor({ state: "detached" });
    expect((await t.call("GET", `/sessions/${sessionId}/status`)).status).toBe(404);
    await shot(page, "deleted");
  });

  test("a name that is markup is refused and shown as text; no script ran", async () => {
    await page.click("#create-toggle");
    await page.fill("#create-name", XSS);
    await page.click("#create-form button[type=submit]");
    await page.locator("#notice", { hasText: XSS }).waitFor();
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    // The API refuses it as well, with a machine-readable code.
    const res = await t.call("POST", "/sessions/create", { body: { name: XSS } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("VALIDATION_ERROR");
    await shot(page, "markup-name-as-text");
    await page.click("#create-cancel");
  });

  test("no console errors, no dialogs, nothing requested off this host in the admin's whole session", async () => {
    // A QR read that meets the session already moved on is 409, which the page expects and skips
    // (its state event follows); chromium logs the load anyway. Anything else is a problem.
    expect(watch.problems.filter((p) => !/status of 409 \(Conflict\) at \/sessions\/[^/]+\/qr$/.test(p))).toEqual([]);
    expect(watch.dialogs).toEqual([]);
    expect(watch.offHost()).toEqual([]);
  });

  test("a session key, on a phone-sized screen, sees only its own session, live", async () => {
    const mine = await t.createSession("only-mine");
    const other = await t.createSession("not-mine");
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const p = await phone.newPage();
    const w = watchPage(p);
    try {
      await p.goto(`${t.url}/dashboard`, { waitUntil: "load" });
      await p.fill("#key", mine.apiKey);
      await p.click("#signin-form button[type=submit]");
      await p.locator(`#row-${mine.id}`).waitFor();
      await expect(p.locator("#scope").textContent()).resolves.toBe("session key");
      await expect(p.locator("#sessions-body tr").count()).resolves.toBe(1);
      await expect(p.locator("#create-toggle").isVisible()).resolves.toBe(false);
      // Another session changes: nothing of it reaches this page.
      await t.call("POST", `/sessions/${other.id}/stop`, { key: other.apiKey });
      await t.call("POST", `/sessions/${mine.id}/stop`, { key: mine.apiKey });
      await p.locator(`#row-${mine.id} .state-stopped`).waitFor({ timeout: 20_000 });
      const text = (await p.textContent("body")) ?? "";
      expect(text).not.toContain("not-mine");
      expect(text).not.toContain(other.id);
      // Fits the screen: no sideways scrolling.
      expect(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
      await shot(p, "session-key-phone-list");

      // Its page works; another session's page is not shown.
      await p.click(`#row-${mine.id} a.name`);
      await stateShown(p, "stopped");
      expect(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
      await shot(p, "session-key-phone-session");
      await p.evaluate((id) => (location.hash = `#/sessions/${id}`), other.id);
      await p.locator("#notice", { hasText: "This key reaches only its own session." }).waitFor();
      await p.locator("#list-view").waitFor();
      expect((await p.textContent("body")) ?? "").not.toContain("not-mine");

      // Signing out forgets the key.
      await p.click("#sign-out");
      await p.locator("#signin-view").waitFor();
      expect(await p.evaluate(() => sessionStorage.length)).toBe(0);
      expect(w.problems).toEqual([]);
      expect(w.dialogs).toEqual([]);
      expect(w.offHost()).toEqual([]);
    } finally {
      await phone.close();
    }
  });
});
