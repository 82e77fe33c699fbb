// What patches/ changes in Baileys, checked against what it replaces.
import { expect, test } from "bun:test";
import { encodeBinaryNode, decodeDecompressedBinaryNode, type BinaryNode } from "@whiskeysockets/baileys";
import * as constants from "@whiskeysockets/baileys/lib/WABinary/constants.js";
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

test("the binary encoder's output decodes to the node it was given (bytes, nibbles, hex, JIDs, lists, tokens)", () => {
  const nodes: BinaryNode[] = [
    {
      tag: "message",
      attrs: { id: "3EB0A1B2C3D4E5F6", to: "4915112345678@s.whatsapp.net", type: "text", t: "1796303201" },
      content: [
        { tag: "participants", attrs: {}, content: [{ tag: "to", attrs: { jid: "852031751995911:3@lid" }, content: [{ tag: "enc", attrs: { v: "2", type: "msg" }, content: randomBytes(300) }] }] },
        { tag: "device-identity", attrs: {}, content: randomBytes(2000) },
        { tag: "note", attrs: { text: "Grüße ✓ 𝟘" }, content: Buffer.from("string content decodes as bytes") },
      ],
    },
    { tag: "iq", attrs: { id: "12.34-5", to: "s.whatsapp.net", type: "get", xmlns: "privacy" }, content: [{ tag: "privacy", attrs: {} }] },
    { tag: "ack", attrs: { id: "ABCDEF0123", class: "receipt", from: "120363000000000000@g.us" } },
  ];
  for (const node of nodes) {
    const encoded = encodeBinaryNode(node);
    expect(encoded[0]).toBe(0); // the frame's flag byte: not compressed
    const decoded = decodeDecompressedBinaryNode(encoded.subarray(1), { ...constants }, { index: 0 });
    expect(JSON.parse(JSON.stringify(decoded))).toEqual(JSON.parse(JSON.stringify(node)));
  }
});
