// How a client comes to trust the emulator: Baileys checks the server's certificate chain
// against WA_CERT_DETAILS.PUBLIC_KEY, an exported mutable value. Setting it to the emulator's
// root is all the sandbox's WA_TRUST_ROOT does; left alone, WhatsApp's real root stays.
import { WA_CERT_DETAILS } from "@whiskeysockets/baileys";

export function trustRoot(hex: string): void {
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new Error("trust root must be 32 bytes of hex");
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(hex, "hex");
}
