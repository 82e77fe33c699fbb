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

export function makeServerIdentity(root: TrustRoot): ServerIdentity {
  const intermediate = Curve.generateKeyPair();
  const staticKey = Curve.generateKeyPair();
  const now = Math.floor(Date.now() / 1000);
  const intermediateDetails = proto.CertChain.NoiseCertificate.Details.encode({
    serial: 1,
    issuerSerial: 0,
    key: intermediate.public,
    notBefore: now - 3600,
    notAfter: now + 365 * 86400,
  }).finish();
  const leafDetails = proto.CertChain.NoiseCertificate.Details.encode({
    serial: 2,
    issuerSerial: 1,
    key: staticKey.public,
    notBefore: now - 3600,
    notAfter: now + 30 * 86400,
  }).finish();
  const certChain = proto.CertChain.encode({
    intermediate: { details: intermediateDetails, signature: Curve.sign(root.keyPair.private, intermediateDetails) },
    leaf: { details: leafDetails, signature: Curve.sign(intermediate.private, leafDetails) },
  }).finish();
  return { staticKey, certChain };
}
