// Swagger UI in a real browser (Debian's headless chromium, driven by playwright-core): it renders
// every operation of the document from assets the API serves itself, sends nothing to any other
// origin, and "Try it out" with the admin key answers 200.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { startTestApi, type TestApi } from "../support/api";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = "/tmp/wa-swagger-ui.png";

function isLoopback(url: URL): boolean {
  return ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
}

describe("Swagger UI at /swagger", () => {
  let t: TestApi;
  let browser: Browser;
  let page: Page;
  const requests: string[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    // No skipping: a machine without the browser fails here, saying how to get it.
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: run the suite with 'bash scripts/test.sh' (it installs it) or 'apt-get install -y chromium'`);
    }
    t = await startTestApi("pglite");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
    page.on("request", (request) => requests.push(request.url()));
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console error: ${message.text()}`);
    });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  test("renders every operation of the document, loading nothing from another origin", async () => {
    const doc = await (await fetch(`${t.url}/swagger/json`)).json();
    const expected = Object.entries<Record<string, unknown>>(doc.paths)
      .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    expect(expected.length).toBeGreaterThan(20);

    const response = await page.goto(`${t.url}/swagger`, { waitUntil: "load" });
    expect(response?.status()).toBe(200);
    const html = await response!.text();
    // The page names no other origin at all (its scripts and styles are /swagger/ui-<version>/...).
    expect(html).not.toMatch(/https?:\/\//);
    expect(response!.headers()["content-security-policy"]).toContain("default-src 'none'");

    await page.waitForFunction((count) => document.querySelectorAll(".opblock").length >= count, expected.length, { timeout: 30_000 });
    const rendered = await page.$$eval(".opblock", (blocks) =>
      blocks.map((b) => `${b.querySelector(".opblock-summary-method")?.textContent?.trim()} ${b.querySelector(".opblock-summary-path")?.getAttribute("data-path")}`),
    );
    expect(rendered.sort()).toEqual(expected);
    await expect(page.locator(".info .title").first().textContent()).resolves.toContain("WhatsApp Session API");

    const origin = new URL(t.url).origin;
    const web = requests.map((r) => new URL(r)).filter((u) => u.protocol === "http:" || u.protocol === "https:");
    expect(web.filter((u) => !isLoopback(u)).map(String)).toEqual([]);
    expect(web.filter((u) => u.origin !== origin).map(String)).toEqual([]);
    // The UI really came from the API: its bundle, styles and the document were requested here.
    const paths = web.map((u) => u.pathname);
    expect(paths).toContain("/swagger/json");
    expect(paths.some((p) => /^\/swagger\/ui-[\d.]+\/swagger-ui-bundle\.js$/.test(p))).toBe(true);
    expect(paths.some((p) => /^\/swagger\/ui-[\d.]+\/swagger-ui\.css$/.test(p))).toBe(true);
    expect(problems).toEqual([]);
  });

  test("Authorize with the admin key, then Try it out on GET /sessions answers 200", async () => {
    const session = await t.createSession("from-swagger");

    await page.click("button.authorize");
    const dialog = page.locator(".modal-ux");
    await dialog.locator("input").first().fill(t.adminKey);
    await dialog.locator("button.modal-btn.auth.authorize").click();
    // Authorized: the dialog offers to log out instead.
    await dialog.getByRole("button", { name: "Remove authorization" }).first().waitFor({ timeout: 10_000 });
    await dialog.locator("button.btn-done").click();

    const op = page.locator("#operations-Sessions-getSessions");
    await op.locator(".opblock-summary").first().click();
    await op.locator("button.try-out__btn").click();
    await op.locator("button.execute").click();
    const status = op.locator(".live-responses-table tr.response .response-col_status").first();
    await status.waitFor({ timeout: 30_000 });
    expect((await status.textContent())?.trim()).toBe("200");
    const body = (await op.locator(".live-responses-table tr.response .response-col_description pre").first().textContent()) ?? "";
    expect(JSON.parse(body)).toMatchObject({ success: true, sessions: [{ id: session.id, name: "from-swagger" }] });

    // The call went to this API with the key it was given.
    expect(requests.filter((r) => new URL(r).pathname === "/sessions").length).toBe(1);
    await status.scrollIntoViewIfNeeded();
    await page.screenshot({ path: SCREENSHOT });
    expect(requests.map((r) => new URL(r)).filter((u) => (u.protocol === "http:" || u.protocol === "https:") && !isLoopback(u)).map(String)).toEqual([]);
    expect(problems).toEqual([]);
  });
});
