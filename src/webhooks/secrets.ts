// Each session's webhook secret (`whsec_…`, the Standard Webhooks format): an HMAC of the
// session id and a random salt stored with the session, keyed with a key kept outside the
// database (WEBHOOK_SECRET or DATA_DIR/webhook.key). A dump of the database alone can sign
// nothing; rotating the salt rotates the secret.
import { createHmac, randomBytes } from "node:crypto";

export function newSecretSalt(): string {
  return randomBytes(16).toString("hex");
}

export class WebhookSecrets {
  constructor(private readonly key: Uint8Array) {}

  secretOf(sessionId: string, salt: string): string {
    return "whsec_" + createHmac("sha256", this.key).update(`${sessionId}.${salt}`).digest("base64");
  }
}
