// SHA-256 of a string as hex. Bun's one-shot hasher is about 4x faster than node:crypto's
// createHash (no hasher object per call), which matters on the key check of every request.
import { createHash } from "node:crypto";
import { runtime } from "./runtime";

export const sha256Hex: (text: string) => string =
  runtime === "bun"
    ? (text) => Bun.SHA256.hash(text, "hex") as string
    : (text) => createHash("sha256").update(text, "utf8").digest("hex");
