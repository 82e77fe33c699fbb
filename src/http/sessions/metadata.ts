// What the body schema cannot say of a session's metadata: its depth, size and text.
import { errors } from "../errors";
import { jsonDepth, textField } from "../json-body";
import { MAX_METADATA_BYTES, MAX_METADATA_DEPTH } from "./models";

/** What the schema cannot say of metadata (the webhook URL is the domain's to check: it resolves it). */
export function validateMetadata(metadata: Record<string, unknown> | undefined): void {
  if (metadata === undefined) return;
  // Clients read metadata back from GET /sessions: a deep object there would break them.
  if (jsonDepth(metadata, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH) {
    throw errors.validation("metadata", `must nest at most ${MAX_METADATA_DEPTH} levels`);
  }
  if (Buffer.byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES) {
    throw errors.validation("metadata", `must be at most ${MAX_METADATA_BYTES} bytes of JSON`);
  }
  // PostgreSQL's jsonb takes no NUL (lone surrogates are refused with the body, in json-body.ts).
  if (textField(metadata, (s) => s.includes("\u0000")) !== null) throw errors.validation("metadata", "keys and strings must not hold NUL characters");
}

