// A fresh PostgreSQL database per test API, dropped afterwards, on the server the test script
// started; so the suite can run against a real server without tests seeing each other's rows.
import postgres from "postgres";
import { requireEnv } from "./env";

export async function createTestDatabase(
  adminUrl: string = requireEnv("TEST_DATABASE_URL"),
  prefix = "wa_test",
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${crypto.randomUUID().replace(/-/g, "").slice(0, 16)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}
