// Baileys 7.0.0-rc14's Curve.verify wraps libsignal's verifySignature in try/catch and answers
// true unless it throws; libsignal 6 returns false for a bad signature instead of throwing, so
// every well-formed signature "verifies". That turns the check of WhatsApp's certificate chain
// in the Noise handshake (and of the account's pairing signatures) into a no-op. The sandbox
// faces the internet, so it puts the real answer back before Baileys connects.
import { Curve, generateSignalPubKey } from "@whiskeysockets/baileys";
import * as libsignalCurve from "libsignal/src/curve.js";

/** Baileys' verify as shipped, kept so a test can show what it answers. */
export const shippedVerify = Curve.verify;

export function enforceSignatureChecks(): void {
  Curve.verify = (pubKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean => {
    try {
      return libsignalCurve.verifySignature(generateSignalPubKey(pubKey), message, signature) === true;
    } catch {
      return false;
    }
  };
}
