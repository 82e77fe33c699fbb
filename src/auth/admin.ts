// The admin key: ADMIN_API_KEY when set (it then replaces any stored one), otherwise generated
// once at first start and shown once; only its hash is ever stored. It is shown on a terminal
// only: under systemd stdout is the journal, which is kept and shipped, so there the key goes to
// a file only its owner can read, and the log says where (never the key).
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AdminKeyRepository } from "../db/admin-key-repository";
import type { Logger } from "../log";
import { generateKey, hashKey } from "./keys";

export const ADMIN_KEY_FILE = "admin-key";

export interface AdminKeyOutput {
  /** Where a generated key is written when stdout is not a terminal. */
  dataDir: string;
  log: Logger;
  /** Shows the key line instead (tests); otherwise the terminal or the file decide. */
  print?: (line: string) => void;
  /** Whether stdout is a terminal; defaults to process.stdout.isTTY. */
  isTTY?: boolean;
}

export async function ensureAdminKey(
  keys: AdminKeyRepository,
  configured: string | undefined,
  output: AdminKeyOutput,
): Promise<"configured" | "generated" | "stored"> {
  if (configured) {
    const hash = hashKey(configured);
    if (!(await keys.has(hash)) || (await keys.count()) !== 1) await keys.replaceAll(hash);
    return "configured";
  }
  if ((await keys.count()) > 0) return "stored";
  const key = generateKey("admin");
  await keys.add(hashKey(key));
  const line = `ADMIN API KEY (shown once, store it now; set ADMIN_API_KEY to replace it): ${key}`;
  if (output.print) output.print(line);
  else if (output.isTTY ?? process.stdout.isTTY === true) process.stdout.write(line + "\n");
  else {
    const file = writeKeyFile(output.dataDir, key);
    output.log.warn("admin API key generated and written to a file readable only by this user; store it and delete the file", { file });
  }
  return "generated";
}

function writeKeyFile(dataDir: string, key: string): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, ADMIN_KEY_FILE);
  // Created afresh ("wx"), so the mode holds even where an earlier install left a file.
  rmSync(file, { force: true });
  writeFileSync(file, key + "\n", { mode: 0o600, flag: "wx" });
  return file;
}
