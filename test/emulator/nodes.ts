// Small helpers over Baileys' binary node type, so handlers read like the stanzas they build.
import { getBinaryNodeChild, getBinaryNodeChildren, type BinaryNode } from "@whiskeysockets/baileys";

export type { BinaryNode };
export const S_WHATSAPP_NET = "s.whatsapp.net";

export function node(tag: string, attrs: Record<string, string> = {}, content?: BinaryNode[] | Uint8Array | string): BinaryNode {
  return content === undefined ? { tag, attrs } : { tag, attrs, content };
}

export const child = getBinaryNodeChild;
export const children = getBinaryNodeChildren;

export function bytes(n: BinaryNode | undefined): Buffer {
  const c = n?.content;
  if (c instanceof Uint8Array) return Buffer.from(c);
  if (typeof c === "string") return Buffer.from(c, "utf8");
  return Buffer.alloc(0);
}

/** Big-endian unsigned integer of 1 to 4 bytes, as WhatsApp encodes key ids. */
export function uint(buf: Uint8Array): number {
  let n = 0;
  for (const b of buf) n = n * 256 + b;
  return n;
}

export function iqResult(iq: BinaryNode, content?: BinaryNode[]): BinaryNode {
  return node("iq", { id: iq.attrs.id ?? "", type: "result", from: S_WHATSAPP_NET }, content);
}

export function iqError(iq: BinaryNode, code: number, text: string): BinaryNode {
  return node("iq", { id: iq.attrs.id ?? "", type: "error", from: S_WHATSAPP_NET }, [node("error", { code: String(code), text })]);
}

let counter = 0;
export function newId(prefix = "emu"): string {
  return `${prefix}.${Date.now().toString(36)}.${(counter++).toString(36)}`;
}
