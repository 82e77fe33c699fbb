// The emulator's certificate chain: a root key (the one a client is told to trust through
// WA_TRUST_ROOT), an intermediate signed by it, and a leaf for the server's static Noise key.
import { Curve, proto } from "@whiskeysockets/baileys";
import type { KeyPair } from "./noise";

export interface TrustRoot {
  keyPair: KeyPair;
  /** Hex of the 32-byte public key, for WA_TRUST_ROOT. */
  publicHex: string;
}

/** A root from a hex private key (so a restarted emulator keeps its root), or a new one. */
export function makeTrustRoot(privateHex?: string): TrustRoot {
  let keyPair: KeyPair;
  if (privateHex) {
    const priv = Buffer.from(privateHex, "hex");
    if (priv.length !== 32) throw new Error("EMULATOR_ROOT_KEY must be 32 bytes of hex");
    // The public half of a Curve25519 private key: agree with the base point's public key 9.
    keyPair = { private: priv, public: publicFromPrivate(priv) };
  } else {
    keyPair = Curve.generateKeyPair();
  }
  return { keyPair, publicHex: Buffer.from(keyPair.public).toString("hex") };
}

function publicFromPrivate(priv: Buffer): Buffer {
  const { createPrivateKey, createPublicKey } = require("node:crypto") as typeof import("node:crypto");
  // PKCS#8 wrapper of a raw X25519 private key.
  const der = Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), priv]);
  const pub = createPublicKey(createPrivateKey({ key: der, format: "der", type: "pkcs8" })).export({ format: "der", type: "spki" });
  return Buffer.from(pub.subarray(pub.length - 32));
}

export interface ServerIdentity {
  staticKey: KeyPair;
  certChain: Uint8Array;
}

/** One link of the chain: details about `key`, signed by the issuer's private key. */
function certificate(serial: number, issuerSerial: number, key: Uint8Array, validDays: number, issuer: KeyPair) {
  const now = Math.floor(Date.now() / 1000);
  const details = proto.CertChain.NoiseCertificate.Details.encode({ serial, issuerSerial, key, notBefore: now - 3600, notAfter: now + validDays * 86400 }).finish();
  return { details, signature: Curve.sign(issuer.private, details) };
}

export function makeServerIdentity(root: TrustRoot): ServerIdentity {
  const intermediate = Curve.generateKeyPair();
  const staticKey = Curve.generateKeyPair();
  // The client checks the intermediate against its trusted root (issuer serial 0) and the leaf
  // against the intermediate.
  const certChain = proto.CertChain.encode({
    intermediate: certificate(1, 0, intermediate.public, 365, root.keyPair),
    leaf: certificate(2, 1, staticKey.public, 30, intermediate),
  }).finish();
  return { staticKey, certChain };
}
