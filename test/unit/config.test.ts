import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig, parseBytes } from "../../src/config";

describe("configuration", () => {
  test("defaults", () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.dataDir.endsWith("/data")).toBe(true);
    expect(c.openSessionCreate).toBe(false);
    expect(c.sandboxMemory).toBe(256 * 1024 * 1024);
    expect(c.sandboxImage).toMatch(/^localhost\/wa-sandbox:\d+\.\d+\.\d+/);
    // Derived from the installation's id at start, never a shared "default".
    expect(c.instanceId).toBeUndefined();
    expect(loadConfig({ INSTANCE_ID: "prod-1" }).instanceId).toBe("prod-1");
    expect(loadConfig({ METRICS_TOKEN: "0123456789abcdef" }).metricsToken).toBe("0123456789abcdef");
    expect(loadConfig({}).metricsToken).toBeUndefined();
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ PORT: "http" }, /PORT must be a whole number/],
    [{ PORT: "70000" }, /PORT must be between/],
    [{ DATABASE_URL: "mysql://x" }, /DATABASE_URL must use postgres/],
    [{ DATABASE_URL: "not a url" }, /DATABASE_URL must be a URL/],
    [{ ADMIN_API_KEY: "wamk_short" }, /ADMIN_API_KEY must be wamk_/],
    [{ ADMIN_API_KEY: "wask_" + "a".repeat(48) }, /ADMIN_API_KEY must be wamk_/],
    [{ LOG_LEVEL: "loud" }, /LOG_LEVEL must be/],
    [{ OPEN_SESSION_CREATE: "maybe" }, /OPEN_SESSION_CREATE must be true or false/],
    [{ MAX_SESSIONS: "0" }, /MAX_SESSIONS must be between/],
    [{ SANDBOX_MEMORY: "lots" }, /SANDBOX_MEMORY must be a size/],
    [{ WA_TRUST_ROOT: "zz" }, /WA_TRUST_ROOT must be/],
    [{ CHANNEL_SECRET: "short" }, /CHANNEL_SECRET must be at least 32/],
    [{ INSTANCE_ID: "a b" }, /INSTANCE_ID must be/],
    [{ METRICS_TOKEN: "short" }, /METRICS_TOKEN must be at least 16/],
    [{ METRICS_TOKEN: "sixteen chars and spaces" }, /METRICS_TOKEN must be/],
  ];
  for (const [env, message] of bad) {
    test(`refuses ${JSON.stringify(env)} with a message naming the variable`, () => {
      expect(() => loadConfig(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(message);
    });
  }

  test("ALLOW_PRIVATE_ADDRESSES, with WEBHOOK_ALLOW_PRIVATE as its old name", () => {
    expect(loadConfig({}).allowPrivateAddresses).toBe(false);
    expect(loadConfig({ ALLOW_PRIVATE_ADDRESSES: "true" }).allowPrivateAddresses).toBe(true);
    expect(loadConfig({ WEBHOOK_ALLOW_PRIVATE: "true" }).allowPrivateAddresses).toBe(true);
    // The new name wins where both are set.
    expect(loadConfig({ ALLOW_PRIVATE_ADDRESSES: "false", WEBHOOK_ALLOW_PRIVATE: "true" }).allowPrivateAddresses).toBe(false);
    expect(() => loadConfig({ ALLOW_PRIVATE_ADDRESSES: "maybe" })).toThrow(/ALLOW_PRIVATE_ADDRESSES must be true or false/);
  });

  test("media settings", () => {
    const c = loadConfig({});
    expect([c.mediaAutoDownload, c.mediaFetchTimeoutMs, c.ffmpegPath]).toEqual([true, 60_000, "ffmpeg"]);
    const set = loadConfig({ MEDIA_AUTO_DOWNLOAD: "false", MEDIA_FETCH_TIMEOUT_MS: "5000", FFMPEG_PATH: "/opt/ffmpeg/bin/ffmpeg" });
    expect([set.mediaAutoDownload, set.mediaFetchTimeoutMs, set.ffmpegPath]).toEqual([false, 5000, "/opt/ffmpeg/bin/ffmpeg"]);
  });

  test("sizes", () => {
    expect(parseBytes("X", "256m")).toBe(256 * 1024 ** 2);
    expect(parseBytes("X", "1g")).toBe(1024 ** 3);
    expect(parseBytes("X", "512MiB")).toBe(512 * 1024 ** 2);
    expect(parseBytes("X", "1000")).toBe(1000);
  });

  test("booleans and admin key", () => {
    const key = "wamk_" + "0".repeat(48);
    const c = loadConfig({ OPEN_SESSION_CREATE: "true", ADMIN_API_KEY: key });
    expect(c.openSessionCreate).toBe(true);
    expect(c.adminApiKey).toBe(key);
  });
});
