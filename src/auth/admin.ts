// The admin key: ADMIN_API_KEY when set (it then replaces any stored one), otherwise generated
// once at first start and printed once; only its hash is ever stored.
import type { AdminKeyRepository } from "../db/admin-key-repository";
import { generateKey, hashKey } from "./keys";

export async function ensureAdminKey(
  keys: AdminKeyRepository,
  configured: string | undefined,
  print: (line: string) => void = (line) => process.stdout.write(line + "\n"),
): Promise<"configured" | "generated" | "stored"> {
  if (configured) {
    const hash = hashKey(configured);
    if (!(await keys.has(hash)) || (await keys.count()) !== 1) await keys.replaceAll(hash);
    return "configured";
  }
  if ((await keys.count()) > 0) return "stored";
  const key = generateKey("admin");
  await keys.add(hashKey(key));
  // Deliberately not a log record: logs are kept and shipped, this line is meant to be seen once.
  print(`ADMIN API KEY (shown once, store it now; set ADMIN_API_KEY to replace it): ${key}`);
  return "generated";
}
