// The dashboard's chat view in a real browser (Debian's headless chromium via playwright-core),
// against the real API, rootless Podman running the sandbox image, and the WhatsApp emulator with
// its media server: a contact's text and image show in the chat (the image fetched with the key
// and drawn from a blob: URL), a new one arrives while the chat is open, and a text, a PNG and a
// PDF sent from the page reach the contact byte for byte; a file the API refuses shows its error.
// Each step leaves a screenshot in test-artifacts/dashboard-chats/.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import type { Browser, Page } from "playwright-core";
import type { RunningEmulator } from "../emulator";
import { startTestApi, type TestApi } from "../support/api";
import { launchChromium, watchPage, type PageWatch } from "../support/browser";
import { emulatorControl, startEmulatorForContainers } from "../support/emulator";
import { waitFor } from "../support/env";

const ARTIFACTS = join(import.meta.dir, "../../test-artifacts/dashboard-chats");
const PHONE = "4915112340081";
const CONTACT = "4915112340082";
const CONTACT_JID = `${CONTACT}@s.whatsapp.net`;

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
/** A 64x48 PNG of one colour (big enough to see in the screenshots). */
function png(rgb: [number, number, number]): Buffer {
  const [width, height] = [64, 48];
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const frame = Buffer.alloc(body.length + 8);
    frame.writeUInt32BE(data.length, 0);
    body.copy(frame, 4);
    frame.writeUInt32BE(crc32(body), body.length + 4);
    return frame;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: width }, () => rgb).flat())]);
  const pixels = deflateSync(Buffer.concat(Array.from({ length: height }, () => row)));
  return Buffer.concat([Buffer.from("89504e470d0a1a0a", "hex"), chunk("IHDR", header), chunk("IDAT", pixels), chunk("IEND", Buffer.alloc(0))]);
}
const pdf = Buffer.from("%PDF-1.4\n% order 7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n");

describe("the dashboard's chats", () => {
  let emu: RunningEmulator;
  let control: ReturnType<typeof emulatorControl>;
  let t: TestApi;
  let browser: Browser;
  let page: Page;
  let watch: PageWatch;
  let id = "";
  let key = "";
  let shots = 0;

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${String(++shots).padStart(2, "0")}-${name}.png`), fullPage: true });
  const received = async () => (await control("GET", `/control/phones/${CONTACT}/received`)).body.messages as any[];
  const status = async () => (await t.call("GET", `/sessions/${id}/status`, { key })).body.session?.state;
  /** Waits until the message's image in the page is drawn from a blob: URL with its real pixels. */
  const imageShown = (mid: string) =>
    page.waitForFunction((mid) => {
      const img = document.querySelector<HTMLImageElement>(`#messages li[data-id="${mid}"] img`);
      return !!img && img.src.startsWith("blob:") && img.complete && img.naturalWidth === 64;
    }, mid);
  const sendFile = async (file: { name: string; mimeType: string; buffer: Buffer }, caption = "") => {
    await page.setInputFiles("#send-file-input", file);
    await page.fill("#send-file-caption", caption);
    await page.click("#send-file button[type=submit]");
  };

  beforeAll(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    emu = await startEmulatorForContainers();
    control = emulatorControl(emu);
    await control("POST", "/control/numbers", { add: [CONTACT] });
    const chromium = launchChromium();
    t = await startTestApi("pglite", { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, WA_MEDIA_SOCKET: emu.mediaSocketPath!, WA_MEDIA_CA: emu.mediaCa });
    const created = await t.createSession("chats");
    ({ id, apiKey: key } = created);
    await waitFor(async () => (await status()) === "qr_ready", 30_000, "qr_ready");
    const qr = (await t.call("GET", `/sessions/${id}/qr`, { key })).body.qr;
    expect((await control("POST", "/control/scan", { qr, phoneNumber: PHONE })).status).toBe(200);
    await waitFor(async () => (await status()) === "ready", 60_000, "ready");
    browser = await chromium;
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    watch = watchPage(page);
    // Which blob: URLs the page let go of (probing a revoked one would log an error of its own).
    await page.addInitScript(() => {
      const revoke = URL.revokeObjectURL.bind(URL);
      (window as any).__revoked = [];
      URL.revokeObjectURL = (url: string) => ((window as any).__revoked.push(url), revoke(url));
    });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await emu?.stop();
  });

  test("a chat shows the contact's text and image, newest first, and what arrives while it is open", async () => {
    const text = await control("POST", "/control/messages", { from: CONTACT, to: PHONE, text: "Hello <b>from</b> the shop" });
    const image = await control("POST", "/control/messages", { from: CONTACT, to: PHONE, type: "image", caption: "our shop", media: { data: png([18, 140, 126]).toString("base64"), mimetype: "image/png" } });
    expect([text.status, image.status]).toEqual([200, 200]);
    await waitFor(async () => (await t.call("GET", `/sessions/${id}/messages/${image.body.id}`, { key })).body.message?.media?.state === "stored", 30_000, "the image stored");

    await page.goto(`${t.url}/dashboard#/sessions/${id}`, { waitUntil: "load" });
    await page.fill("#key", key);
    await page.click("#signin-form button[type=submit]");
    await page.click(`#chats [data-chat="${CONTACT_JID}"]`);
    await expect(page.locator("#chat-title").textContent()).resolves.toBe(`+${CONTACT}`);
    // Markup in a message is text.
    await page.locator(`#messages li[data-id="${text.body.id}"] .text`, { hasText: "Hello <b>from</b> the shop" }).waitFor();
    await imageShown(image.body.id);
    await expect(page.locator(`#messages li[data-id="${image.body.id}"] .caption`).textContent()).resolves.toBe("our shop");
    expect(await page.locator("#messages li").evaluateAll((items) => items.map((li) => (li as HTMLElement).dataset.id))).toEqual([image.body.id, text.body.id]);
    await shot("chat-open");

    const later = await control("POST", "/control/messages", { from: CONTACT, to: PHONE, text: "Are you there?" });
    await page.locator("#messages li:first-child .text", { hasText: "Are you there?" }).waitFor({ timeout: 15_000 });
    expect(await page.locator("#messages li:first-child").getAttribute("data-id")).toBe(later.body.id);
  });

  test("a text and files sent from the page reach the contact; a refused file shows the API's error", async () => {
    await page.fill("#send-text-input", "Yes, on my way");
    await page.click("#send-text button[type=submit]");
    const mine = page.locator("#messages li.out:first-child");
    await mine.locator(".text", { hasText: "Yes, on my way" }).waitFor();
    const textId = (await mine.getAttribute("data-id"))!;
    expect(await waitFor(async () => (await received()).find((m) => m.id === textId), 20_000, "the text")).toMatchObject({ text: "Yes, on my way" });
    // Its status follows the contact's receipt without a reload.
    await page.locator(`#messages li[data-id="${textId}"] .status[data-status="delivered"]`).waitFor({ timeout: 15_000 });

    const photo = png([230, 120, 30]);
    await sendFile({ name: "dot.png", mimeType: "image/png", buffer: photo }, "a dot");
    await page.locator("#messages li.out:first-child[data-type=image]").waitFor();
    const imageId = (await page.locator("#messages li:first-child").getAttribute("data-id"))!;
    await imageShown(imageId);
    const got = await waitFor(async () => (await received()).find((m) => m.id === imageId), 20_000, "the image");
    expect(got).toMatchObject({ type: "image", caption: "a dot", media: { mimetype: "image/png", sha256: sha256(photo) } });

    await sendFile({ name: "order-7.pdf", mimeType: "application/pdf", buffer: pdf });
    const doc = page.locator("#messages li.out:first-child[data-type=document]");
    await doc.waitFor();
    const docId = (await doc.getAttribute("data-id"))!;
    expect(await waitFor(async () => (await received()).find((m) => m.id === docId), 20_000, "the document")).toMatchObject({ type: "document", media: { fileName: "order-7.pdf", sha256: sha256(pdf) } });
    // Its download is fetched with the key too, and saved under its name.
    const [download] = await Promise.all([page.waitForEvent("download"), doc.locator("button.download").click()]);
    expect(download.suggestedFilename()).toBe("order-7.pdf");
    expect(sha256(readFileSync((await download.path())!))).toBe(sha256(pdf));

    // A .png goes as an image; these bytes are text, which the API refuses as one.
    await sendFile({ name: "fake.png", mimeType: "image/png", buffer: Buffer.from("not a picture at all") });
    await page.locator("#send-status.send-error", { hasText: "VALIDATION_ERROR" }).waitFor();
    expect(await page.locator("#send-status").textContent()).toContain('Invalid field "file"');
    await shot("sent");
  });

  test("on a phone-sized screen the chat fits; closing it lets go of its images; nothing went wrong", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await page.locator("#chat").scrollIntoViewIfNeeded();
    await shot("phone");
    const urls = await page.locator("#messages img").evaluateAll((imgs) => imgs.map((img) => (img as HTMLImageElement).src));
    expect(urls.length).toBe(2);
    await page.click("#chat-close");
    await expect(page.locator("#chat").isVisible()).resolves.toBe(false);
    const revoked: string[] = await page.evaluate(() => (window as any).__revoked);
    expect(urls.filter((u) => !revoked.includes(u))).toEqual([]);
    // The refused send, which chromium logs itself; nothing else went wrong.
    expect(watch.problems).toEqual([`console error: Failed to load resource: the server responded with a status of 400 (Bad Request) at /sessions/${id}/messages`]);
    expect(watch.dialogs).toEqual([]);
    expect(watch.offHost()).toEqual([]);
    // The key went in headers only.
    expect(watch.requests.filter((r) => r.includes(key))).toEqual([]);
  });

  test("a location, contact cards, a poll, a reaction, an edit and a delete show in the chat", async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    const say = async (body: Record<string, unknown>) => (await control("POST", "/control/messages", { from: CONTACT, to: PHONE, ...body })).body.id as string;
    const first = await say({ text: "See you at noon" });
    const place = await say({ type: "location", location: { latitude: 52.520008, longitude: 13.404954, name: "Alexanderplatz" } });
    const card = await say({ type: "contact", contacts: [{ name: "Ana", phoneNumber: "4915112398888" }] });
    const doomed = await say({ text: "a typo, deleted" });
    await waitFor(async () => (await t.call("GET", `/sessions/${id}/messages/${doomed}`, { key })).status === 200, 15_000, "the messages stored");
    await say({ type: "reaction", targetId: first, emoji: "👍" });
    await say({ type: "edit", targetId: first, text: "See you at one" });
    await say({ type: "revoke", targetId: doomed });

    await page.click(`#chats [data-chat="${CONTACT_JID}"]`);
    const node = (mid: string) => page.locator(`#messages li[data-id="${mid}"]`);
    await node(place).locator(".text", { hasText: "📍 Alexanderplatz (52.52001, 13.40495)" }).waitFor({ timeout: 15_000 });
    await node(card).locator(".text", { hasText: "👤 Ana +4915112398888" }).waitFor();
    await node(first).locator(".text", { hasText: "See you at one" }).waitFor({ timeout: 15_000 });
    await node(first).locator(".edited").waitFor();
    await node(first).locator(".reactions", { hasText: `👍 ${CONTACT}` }).waitFor({ timeout: 15_000 });
    await node(doomed).locator(".revoked", { hasText: "This message was deleted" }).waitFor({ timeout: 15_000 });
    await shot("conversation");
  });
});
