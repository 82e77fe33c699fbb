// The server (responder) side of WhatsApp's Noise XX handshake and its transport framing,
// mirroring the client in Baileys' Utils/noise-handler: one running hash, one chaining key,
// one nonce counter shared by encrypt and decrypt until the split.
import { aesDecryptGCM, aesEncryptGCM, Curve, hkdf, NOISE_MODE, NOISE_WA_HEADER, sha256 } from "@whiskeysockets/baileys";

type KeyPair = { private: Uint8Array; public: Uint8Array };

function iv(counter: number): Uint8Array {
  const out = new Uint8Array(12);
  new DataView(out.buffer).setUint32(8, counter);
  return out;
}

export class NoiseResponder {
  private hash: Buffer;
  private salt: Buffer;
  private key: Buffer;
  private counter = 0;

  constructor() {
    const mode = Buffer.from(NOISE_MODE);
    this.hash = mode.byteLength === 32 ? mode : Buffer.from(sha256(mode));
    this.salt = this.hash;
    this.key = this.hash;
    this.mixHash(NOISE_WA_HEADER);
  }

  mixHash(data: Uint8Array): void {
    this.hash = Buffer.from(sha256(Buffer.concat([this.hash, data])));
  }

  mixKey(data: Uint8Array): void {
    const out = Buffer.from(hkdf(Buffer.from(data), 64, { salt: this.salt, info: "" }));
    this.salt = out.subarray(0, 32);
    this.key = out.subarray(32);
    this.counter = 0;
  }

  encrypt(plaintext: Uint8Array): Buffer {
    const out = Buffer.from(aesEncryptGCM(plaintext, this.key, iv(this.counter++), this.hash));
    this.mixHash(out);
    return out;
  }

  decrypt(ciphertext: Uint8Array): Buffer {
    const out = Buffer.from(aesDecryptGCM(Buffer.from(ciphertext), this.key, iv(this.counter++), this.hash));
    this.mixHash(ciphertext);
    return out;
  }

  dh(priv: Uint8Array, pub: Uint8Array): Buffer {
    return Curve.sharedKey(Buffer.from(priv), Buffer.from(pub));
  }

  /** Keys of the transport phase: the client writes with the first half, so we read with it. */
  split(): Transport {
    const out = Buffer.from(hkdf(Buffer.alloc(0), 64, { salt: this.salt, info: "" }));
    return new Transport(out.subarray(32), out.subarray(0, 32));
  }
}

export class Transport {
  private readCounter = 0;
  private writeCounter = 0;

  constructor(
    private readonly encKey: Buffer,
    private readonly decKey: Buffer,
  ) {}

  encrypt(plaintext: Uint8Array): Buffer {
    return Buffer.from(aesEncryptGCM(plaintext, this.encKey, iv(this.writeCounter++), Buffer.alloc(0)));
  }

  decrypt(ciphertext: Uint8Array): Buffer {
    return Buffer.from(aesDecryptGCM(Buffer.from(ciphertext), this.decKey, iv(this.readCounter++), Buffer.alloc(0)));
  }
}

/** Splits the byte stream into frames: a 3-byte big-endian length, then the frame. */
export class FrameReader {
  private buffer = Buffer.alloc(0);
  private introSeen = false;

  /** Feeds bytes; returns complete frames. The client's first bytes carry the 4-byte WA header. */
  push(data: Uint8Array): Buffer[] {
    this.buffer = Buffer.concat([this.buffer, data]);
    if (!this.introSeen) {
      if (this.buffer.length < 4) return [];
      if (!this.buffer.subarray(0, 4).equals(Buffer.from(NOISE_WA_HEADER))) {
        throw new Error("connection did not start with the WhatsApp noise header");
      }
      this.buffer = this.buffer.subarray(4);
      this.introSeen = true;
    }
    const frames: Buffer[] = [];
    while (this.buffer.length >= 3) {
      const size = (this.buffer[0]! << 16) | (this.buffer[1]! << 8) | this.buffer[2]!;
      if (this.buffer.length < size + 3) break;
      frames.push(this.buffer.subarray(3, size + 3));
      this.buffer = this.buffer.subarray(size + 3);
    }
    return frames;
  }
}

export function frame(data: Uint8Array): Buffer {
  const out = Buffer.alloc(3 + data.length);
  out[0] = (data.length >>> 16) & 0xff;
  out[1] = (data.length >>> 8) & 0xff;
  out[2] = data.length & 0xff;
  out.set(data, 3);
  return out;
}

export type { KeyPair };
