// A file path relative to a module, from its import.meta.url (Bun's import.meta.dir is Bun's alone).
import { fileURLToPath } from "node:url";

/** `modulePath(import.meta.url, "../drizzle")`: the path of `relative` next to the calling module. */
export function modulePath(moduleUrl: string, relative: string): string {
  return fileURLToPath(new URL(relative, moduleUrl));
}
