// Sessions' proxy URLs (they carry passwords) are stored encrypted (src/sealer.ts) under a key
// derived from the key kept outside the database that webhook secrets come from (WEBHOOK_SECRET
// or DATA_DIR/webhook.key), bound to the session's id.
import { Sealer } from "../sealer";

export class ProxySecrets {
  private readonly sealer: Sealer;

  constructor(outsideKey: Uint8Array) {
    this.sealer = new Sealer(outsideKey, "wa-session-api proxy url");
  }

  seal(sessionId: string, url: string): string {
    return this.sealer.seal(sessionId, url);
  }

  /** The URL, or null when the stored value does not open with this key (another key, another session). */
  open(sessionId: string, stored: string): string | null {
    return this.sealer.open(sessionId, stored);
  }
}
