// What patches/ changes in Baileys, checked against what it replaces.
import { expect, test } from "bun:test";
import { hkdf } from "@whiskeysockets/baileys/lib/Utils/crypto.js";
import { hkdf as wasmHkdf } from "whatsapp-rust-bridge";
import { randomBytes } from "node:crypto";

test("hkdf is HKDF-SHA256: RFC 5869 test case 3 (no salt, no info)", () => {
  const okm = Buffer.from(hkdf(Buffer.alloc(22, 0x0b), 42, {}));
  expect(okm.toString("hex")).toBe("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
});

test("hkdf answers what whatsapp-rust-bridge's did, for salts, info strings (latin1 too) and lengths Baileys uses", () => {
  for (let i = 0; i < 500; i++) {
    const ikm = randomBytes(1 + (i % 64));
    const info = randomBytes(i % 40).toString("latin1"); // as the reporting token's use-case secret
    const opts = [{ info }, { salt: randomBytes(32), info }, { salt: randomBytes(i % 50) }][i % 3]!;
    const length = [32, 64, 112, 80][i % 4]!;
    const ours = hkdf(ikm, length, opts);
    expect(ours).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(ours).equals(Buffer.from(wasmHkdf(ikm, length, opts)))).toBe(true);
  }
});
