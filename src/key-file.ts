// Signing keys held outside the database: the configured secret when there is one, else 32
// random bytes made once and kept in DATA_DIR (mode 0600), so they survive restarts and a
// database dump alone holds none of them.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

export function loadKey(configured: string | undefined, dataDir: string, fileName: string): Uint8Array {
  if (configured) return new TextEncoder().encode(configured);
  const file = join(dataDir, fileName);
  if (existsSync(file)) return new Uint8Array(Buffer.from(readFileSync(file, "utf8").trim(), "hex"));
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, key.toString("hex"), { mode: 0o600 });
  chmodSync(file, 0o600);
  return new Uint8Array(key);
}
