// Debian's chromium driven by playwright-core (no browser download), with the flags this machine
// needs, and a watch on a page for what must not happen: console errors, uncaught exceptions,
// dialogs (an injected alert()), and requests to anything but loopback.
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export async function launchChromium(): Promise<Browser> {
  // No skipping: a machine without the browser fails here, saying how to get it.
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run the suite with 'bash scripts/test.sh' (it installs it) or 'apt-get install -y chromium'`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  dropEventsOnGoneObjects(browser);
  return browser;
}

/**
 * playwright-core's client sometimes receives a network event about a request or response object
 * it does not have (one made under a request it has already let go; seen in about one run in
 * three here, always around the dashboard's QR images). The event is then thrown, uncaught, from
 * a timer and fails whichever test runs. Such an event is dropped: it is about nothing the test
 * holds. Answers to calls are left as they are.
 */
function dropEventsOnGoneObjects(browser: Browser): void {
  const connection = (browser as unknown as { _connection?: { dispatch(message: { id?: number }): void } })._connection;
  if (!connection) throw new Error("playwright-core's client connection is not where it was: see dropEventsOnGoneObjects");
  const dispatch = connection.dispatch.bind(connection);
  connection.dispatch = (message) => {
    try {
      dispatch(message);
    } catch (err) {
      if (message.id === undefined && /was not bound in the connection|Cannot find parent object|Cannot find object to/.test(String(err))) return;
      throw err;
    }
  };
}

export interface PageWatch {
  /** Console errors and uncaught exceptions, as text. */
  problems: string[];
  /** Messages of dialogs the page opened (alert, confirm, prompt); each was dismissed. */
  dialogs: string[];
  /** Every URL the page requested. */
  requests: string[];
  /** Requests that left for anything but loopback. */
  offHost(): string[];
}

export function watchPage(page: Page): PageWatch {
  const watch: PageWatch = {
    problems: [],
    dialogs: [],
    requests: [],
    offHost: () =>
      watch.requests
        .map((r) => new URL(r))
        .filter((u) => (u.protocol === "http:" || u.protocol === "https:" || u.protocol === "ws:" || u.protocol === "wss:") && !["127.0.0.1", "localhost", "[::1]"].includes(u.hostname))
        .map(String),
  };
  page.on("request", (request) => watch.requests.push(request.url()));
  page.on("pageerror", (error) => watch.problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    // Chromium names no URL in a failed load's text: its path is added, so a test can tell which.
    const url = message.location().url;
    const at = /^Failed to load resource/.test(message.text()) && url ? ` at ${new URL(url).pathname}` : "";
    watch.problems.push(`console error: ${message.text()}${at}`);
  });
  page.on("dialog", (dialog) => {
    watch.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss().catch(() => {});
  });
  return watch;
}
