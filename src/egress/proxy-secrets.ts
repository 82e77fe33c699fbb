// Sessions' proxy URLs (they carry passwords) are stored encrypted: AES-256-GCM under a key
// derived (HKDF-SHA256) from the key kept outside the database that webhook secrets come from
// (WEBHOOK_SECRET or DATA_DIR/webhook.key), bound to the session's id, so a dump of the database
// alone reveals no proxy and a row copied to another session does not decrypt.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

const VERSION = "v1";

export class ProxySecrets {
  private readonly key: Buffer;

  constructor(outsideKey: Uint8Array) {
    this.key = Buffer.from(hkdfSync("sha256", outsideKey, new Uint8Array(0), "wa-session-api proxy url", 32));
  }

  seal(sessionId: string, url: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(Buffer.from(sessionId));
    const sealed = Buffer.concat([cipher.update(url, "utf8"), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}.${iv.toString("base64url")}.${sealed.toString("base64url")}`;
  }

  /** The URL, or null when the stored value does not open with this key (another key, another session). */
  open(sessionId: string, stored: string): string | null {
    const [version, iv, sealed] = stored.split(".");
    if (version !== VERSION || !iv || !sealed) return null;
    try {
      const bytes = Buffer.from(sealed, "base64url");
      const decipher = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64url"));
      decipher.setAAD(Buffer.from(sessionId));
      decipher.setAuthTag(bytes.subarray(bytes.length - 16));
      return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString("utf8");
    } catch {
      return null;
    }
  }
}
