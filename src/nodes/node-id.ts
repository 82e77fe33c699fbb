// This node's id: NODE_ID, or one made at the first start and kept in DATA_DIR/node-id, so a
// restarted node is the same node (its sessions stay its own).
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NODE_ID } from "../config";

export function resolveNodeId(configured: string | undefined, dataDir: string): string {
  if (configured) return configured;
  const file = join(dataDir, "node-id");
  if (existsSync(file)) {
    const kept = readFileSync(file, "utf8").trim();
    if (NODE_ID.test(kept)) return kept;
  }
  mkdirSync(dataDir, { recursive: true });
  const made = `node-${randomBytes(4).toString("hex")}`;
  writeFileSync(file, `${made}\n`, { mode: 0o644 });
  return made;
}
