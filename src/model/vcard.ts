// Contact cards as WhatsApp carries them: vCard 3.0 text with the number as `waid`, which
// WhatsApp reads to offer "message" and "add". Made from a name and a number, and read back.

/** A vCard for a name and a phone number (digits with country code). */
export function makeVcard(name: string, phoneNumber: string): string {
  const escaped = name.replace(/\\/g, "\\\\").replace(/\r?\n/g, "\\n").replace(/[,;]/g, (c) => `\\${c}`);
  return ["BEGIN:VCARD", "VERSION:3.0", `FN:${escaped}`, `TEL;type=CELL;type=VOICE;waid=${phoneNumber}:+${phoneNumber}`, "END:VCARD"].join("\n");
}

/** The name and number of a vCard: FN, and the first TEL (its `waid` where given, else its digits). */
export function readVcard(vcard: string): { name: string | null; phoneNumber: string | null } {
  const text = vcard.slice(0, 16 * 1024);
  const fn = /^FN(?:;[^:\r\n]*)?:([^\r\n]*)$/m.exec(text)?.[1]?.replace(/\\([,;\\])/g, "$1").replace(/\\n/g, " ").trim();
  const tel = /^(?:item\d+\.)?TEL([^:\r\n]*):([^\r\n]*)$/im.exec(text);
  const waid = tel ? /waid=(\d+)/i.exec(tel[1]!)?.[1] : undefined;
  const digits = tel ? (waid ?? tel[2]!.replace(/\D/g, "")) : "";
  return { name: fn || null, phoneNumber: /^[0-9]{1,20}$/.test(digits) ? digits : null };
}
