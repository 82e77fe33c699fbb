// What a WhatsApp id (jid) names: a phone number, a person or something else. Shared by the
// connection (the account's own number, number checks) and the incoming contacts.
import { jidDecode } from "@whiskeysockets/baileys";

export function userPhone(jid: string | undefined | null): string | null {
  if (!jid) return null;
  const decoded = jidDecode(jid);
  return decoded?.server === "s.whatsapp.net" ? decoded.user : null;
}

/** Contacts are people (phone-number or LID accounts); groups are chats, not contacts. */
export function isPerson(id: string | null | undefined): boolean {
  return !!id && (id.endsWith("@s.whatsapp.net") || id.endsWith("@lid"));
}
