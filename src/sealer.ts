// Secrets stored in the database encrypted under a key kept outside it: AES-256-GCM under a key
// derived (HKDF-SHA256) from that outside key for one purpose, each value bound to what it
// belongs to (the additional data), so a dump of the database alone reveals nothing and a value
// copied to another row does not decrypt.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

const VERSION = "v1";

export class Sealer {
  private readonly key: Buffer;

  constructor(outsideKey: Uint8Array, purpose: string) {
    this.key = Buffer.from(hkdfSync("sha256", outsideKey, new Uint8Array(0), purpose, 32));
  }

  seal(boundTo: string, text: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(Buffer.from(boundTo));
    const sealed = Buffer.concat([cipher.update(text, "utf8"), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}.${iv.toString("base64url")}.${sealed.toString("base64url")}`;
  }

  /** The text, or null when the stored value does not open with this key or is bound to something else. */
  open(boundTo: string, stored: string): string | null {
    const [version, iv, sealed] = stored.split(".");
    if (version !== VERSION || !iv || !sealed) return null;
    try {
      const bytes = Buffer.from(sealed, "base64url");
      const decipher = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64url"));
      decipher.setAAD(Buffer.from(boundTo));
      decipher.setAuthTag(bytes.subarray(bytes.length - 16));
      return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString("utf8");
    } catch {
      return null;
    }
  }
}
