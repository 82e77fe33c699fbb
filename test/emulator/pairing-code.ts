// Linking by phone number: the companion sends its ephemeral key wrapped with a key derived
// from the 8-character code it shows; the phone, given the code, unwraps it, answers with its
// own wrapped ephemeral key and identity, and both derive the adv secret that the usual
// pair-success then proves (Baileys' requestPairingCode and its link_code_companion_reg handler).
import { aesDecryptCTR, aesDecryptGCM, aesEncryptCTR, Curve, derivePairingCodeKey, hkdf } from "@whiskeysockets/baileys";
import { randomBytes } from "node:crypto";
import type { KeyPair } from "./noise";
import { bytes, child, node, type BinaryNode } from "./nodes";

export interface CodeLinkRequest {
  phone: string;
  ref: string;
  wrappedCompanionEphemeral: Buffer;
}

export interface PhoneHello {
  notification: BinaryNode;
  ephemeral: KeyPair;
  companionEphemeral: Buffer;
}

async function unwrap(wrapped: Buffer, code: string): Promise<Buffer> {
  const key = await derivePairingCodeKey(code, wrapped.subarray(0, 32));
  return Buffer.from(aesDecryptCTR(wrapped.subarray(48, 80), key, wrapped.subarray(32, 48)));
}

async function wrap(pub: Uint8Array, code: string): Promise<Buffer> {
  const salt = randomBytes(32);
  const iv = randomBytes(16);
  const key = await derivePairingCodeKey(code, salt);
  return Buffer.concat([salt, iv, Buffer.from(aesEncryptCTR(Buffer.from(pub), key, iv))]);
}

export function readCompanionHello(iq: BinaryNode): CodeLinkRequest | null {
  const reg = child(iq, "link_code_companion_reg");
  if (reg?.attrs.stage !== "companion_hello") return null;
  const wrapped = bytes(child(reg, "link_code_pairing_wrapped_companion_ephemeral_pub"));
  const phone = (reg.attrs.jid ?? "").split("@")[0] ?? "";
  if (wrapped.length < 80 || !phone) return null;
  return { phone, ref: randomBytes(16).toString("hex"), wrappedCompanionEphemeral: wrapped };
}

/** The phone's answer once the user typed `code`: its wrapped ephemeral key and identity. */
export async function phoneHello(req: CodeLinkRequest, code: string, identity: KeyPair, id: string): Promise<PhoneHello> {
  const ephemeral = Curve.generateKeyPair();
  const notification = node("notification", { id, type: "link_code_companion_reg", from: "s.whatsapp.net", t: String(Math.floor(Date.now() / 1000)) }, [
    node("link_code_companion_reg", { stage: "primary_hello" }, [
      node("link_code_pairing_ref", {}, Buffer.from(req.ref)),
      node("primary_identity_pub", {}, Buffer.from(identity.public)),
      node("link_code_pairing_wrapped_primary_ephemeral_pub", {}, await wrap(ephemeral.public, code)),
    ]),
  ]);
  return { notification, ephemeral, companionEphemeral: await unwrap(req.wrappedCompanionEphemeral, code) };
}

/**
 * The companion's `companion_finish`: its identity and a random value, encrypted under the
 * shared ephemeral secret. Returns the companion identity and the adv secret, or null when it
 * does not decrypt (the code the phone was given is not the one the companion showed).
 */
export function readCompanionFinish(iq: BinaryNode, hello: PhoneHello, identity: KeyPair): { identityKey: Buffer; advSecret: Buffer } | null {
  const reg = child(iq, "link_code_companion_reg");
  if (reg?.attrs.stage !== "companion_finish") return null;
  const bundle = bytes(child(reg, "link_code_pairing_wrapped_key_bundle"));
  const companionShared = Curve.sharedKey(Buffer.from(hello.ephemeral.private), hello.companionEphemeral);
  const key = Buffer.from(hkdf(companionShared, 32, { salt: bundle.subarray(0, 32), info: "link_code_pairing_key_bundle_encryption_key" }));
  let plain: Buffer;
  try {
    plain = Buffer.from(aesDecryptGCM(bundle.subarray(44), key, bundle.subarray(32, 44), Buffer.alloc(0)));
  } catch {
    return null;
  }
  const identityKey = plain.subarray(0, 32);
  const random = plain.subarray(64, 96);
  const identityShared = Curve.sharedKey(Buffer.from(identity.private), identityKey);
  const advSecret = Buffer.from(hkdf(Buffer.concat([companionShared, identityShared, random]), 32, { info: "adv_secret" }));
  return { identityKey: Buffer.from(identityKey), advSecret };
}
