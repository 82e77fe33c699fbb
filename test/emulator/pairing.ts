// The phone's part of linking a device by QR: read the QR, vouch for the device with an
// identity HMAC'd with the QR's adv secret and signed with the account key, and check the
// device's counter-signature (Baileys' configureSuccessfulPairing is the other side).
import {
  Curve,
  hmacSign,
  proto,
  WA_ADV_ACCOUNT_SIG_PREFIX,
  WA_ADV_DEVICE_SIG_PREFIX,
} from "@whiskeysockets/baileys";
import { bytes, child, node, S_WHATSAPP_NET, type BinaryNode } from "./nodes";
import type { Phone } from "./state";

export interface ParsedQr {
  ref: string;
  noiseKey: string;
  identityKey: Buffer;
  advSecret: Buffer;
}

/** `https://wa.me/settings/linked_devices#ref,noise,identity,adv[,platform]` (or the bare list). */
export function parseQr(qr: string): ParsedQr | null {
  const list = qr.includes("#") ? qr.slice(qr.indexOf("#") + 1) : qr;
  const [ref, noiseKey, identity, adv] = list.split(",");
  if (!ref || !noiseKey || !identity || !adv) return null;
  const identityKey = Buffer.from(identity, "base64");
  const advSecret = Buffer.from(adv, "base64");
  if (identityKey.length !== 32 || advSecret.length !== 32 || Buffer.from(noiseKey, "base64").length !== 32) return null;
  return { ref, noiseKey, identityKey, advSecret };
}

export interface PairOffer {
  stanza: BinaryNode;
  deviceDetails: Uint8Array;
}

/** The `pair-success` iq that tells the device which account it now belongs to. */
export function pairSuccess(phone: Phone, deviceId: number, identityKey: Uint8Array, advSecret: Uint8Array, id: string): PairOffer {
  const deviceDetails = proto.ADVDeviceIdentity.encode({
    rawId: Math.floor(Math.random() * 0xffffffff),
    timestamp: Math.floor(Date.now() / 1000),
    keyIndex: deviceId,
  }).finish();
  const accountSignature = Curve.sign(phone.accountKey.private, Buffer.concat([WA_ADV_ACCOUNT_SIG_PREFIX, deviceDetails, identityKey]));
  const account = proto.ADVSignedDeviceIdentity.encode({
    details: deviceDetails,
    accountSignatureKey: phone.accountKey.public,
    accountSignature,
  }).finish();
  const hmac = hmacSign(Buffer.from(account), Buffer.from(advSecret));
  const identity = proto.ADVSignedDeviceIdentityHMAC.encode({ details: account, hmac, accountType: proto.ADVEncryptionType.E2EE }).finish();
  const stanza = node("iq", { id, type: "set", from: S_WHATSAPP_NET, t: String(Math.floor(Date.now() / 1000)) }, [
    node("pair-success", {}, [
      node("device-identity", {}, identity),
      node("platform", { name: "android" }),
      node("device", { jid: `${phone.number}:${deviceId}@s.whatsapp.net`, lid: `${phone.lid}:${deviceId}@lid` }),
    ]),
  ]);
  return { stanza, deviceDetails };
}

/** Checks the device's `pair-device-sign`: its identity key signed our details and account key. */
export function verifyPairReply(reply: BinaryNode, offer: PairOffer, phone: Phone, identityKey: Uint8Array): boolean {
  const signed = bytes(child(child(reply, "pair-device-sign"), "device-identity"));
  if (signed.length === 0) return false;
  const account = proto.ADVSignedDeviceIdentity.decode(signed);
  if (!account.deviceSignature || !Buffer.from(account.details ?? []).equals(Buffer.from(offer.deviceDetails))) return false;
  const msg = Buffer.concat([WA_ADV_DEVICE_SIG_PREFIX, offer.deviceDetails, identityKey, phone.accountKey.public]);
  return Curve.verify(identityKey, msg, account.deviceSignature);
}
