// The Signal parties of the emulated network: the primary device (device 0) of every registered
// number, whether a directory contact or a phone that links companions. Each has its own identity,
// signed pre-key and endless one-time pre-keys, and keeps its sessions in Baileys' own Signal
// repository, so what it encrypts or decrypts is real libsignal on both ends.
import {
  addTransactionCapability,
  Curve,
  DEFAULT_CONNECTION_CONFIG,
  encodeBigEndian,
  generateSignalPubKey,
  initAuthCreds,
  KEY_BUNDLE_TYPE,
  proto,
  unpadRandomMax16,
  writeRandomPadMax16,
  xmppPreKey,
  xmppSignedPreKey,
  type AuthenticationCreds,
  type SignalDataTypeMap,
  type SignalKeyStore,
} from "@whiskeysockets/baileys";
import pino from "pino";
import type { ReceivedMedia } from "./media";
import { node, type BinaryNode } from "./nodes";
import type { ReceivedConversational } from "./received";
import { deviceJid, type Device, type EmulatorState, type PresenceRecord } from "./state";

const silent = pino({ level: "silent" });

function memoryKeyStore(): SignalKeyStore {
  const data = new Map<string, unknown>();
  return {
    async get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]) {
      const out: { [id: string]: SignalDataTypeMap[T] } = {};
      for (const id of ids) {
        const v = data.get(`${type}:${id}`);
        if (v !== undefined) out[id] = v as SignalDataTypeMap[T];
      }
      return out;
    },
    async set(values) {
      for (const [type, entries] of Object.entries(values)) {
        for (const [id, v] of Object.entries(entries ?? {})) {
          if (v === null || v === undefined) data.delete(`${type}:${id}`);
          else data.set(`${type}:${id}`, v);
        }
      }
    },
  };
}

// Baileys' own Signal repository, through the factory its socket uses by default.
const makeRepository = DEFAULT_CONNECTION_CONFIG.makeSignalRepository;
type Repo = ReturnType<typeof makeRepository>;

export interface EncryptedMessage {
  type: "pkmsg" | "msg";
  ciphertext: Uint8Array;
}

/** A text a party received from a linked device, decrypted; `groupId` when it was written to a group. */
export interface ReceivedText {
  id: string;
  from: string;
  groupId?: string;
  text: string;
  /** JIDs the text mentions (extendedTextMessage.contextInfo.mentionedJid), as the sender wrote them. */
  mentions?: string[];
  timestamp: number;
}

/** A media message a party received: the file downloaded from the media server, checked and decrypted (media.ts). */
export type ReceivedMediaMessage = { id: string; from: string; groupId?: string } & ReceivedMedia & { timestamp: number };

/** Everything a party got from linked devices: texts, media, the conversation kinds (received.ts) and chat states (presence.ts). */
export type ReceivedMessage = ReceivedText | ReceivedMediaMessage | ReceivedConversational | PresenceRecord;

export class SignalParty {
  private readonly creds: AuthenticationCreds = initAuthCreds();
  private readonly keys = addTransactionCapability(memoryKeyStore(), silent, { maxCommitRetries: 1, delayBetweenTriesMs: 0 });
  // The party's own LID mapping stays empty (no lookups): it addresses devices by their PN JIDs.
  private readonly repo: Repo = makeRepository({ creds: this.creds, keys: this.keys }, silent, async () => []);
  private nextPreKeyId = 1;
  /** Devices this party has already sent a message to (see encryptFor). */
  private readonly primed = new Set<string>();
  /** Devices this party has written to in LID addressing (groups), see encryptFor. */
  private readonly lidStarted = new Set<string>();
  /** One operation at a time: a session record must not be read and written by two at once. */
  private lock: Promise<unknown> = Promise.resolve();
  readonly received: ReceivedMessage[] = [];

  constructor(
    readonly number: string,
    readonly lid: string,
  ) {}

  get jid(): string {
    return `${this.number}@s.whatsapp.net`;
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.lock.then(work, work);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** The `user` node of an `encrypt` key fetch: a fresh one-time pre-key each time, as the server hands each out once. */
  async bundleNode(jid: string): Promise<BinaryNode> {
    const keyId = this.nextPreKeyId++;
    const pair = Curve.generateKeyPair();
    await this.keys.set({ "pre-key": { [String(keyId)]: pair } });
    return node("user", { jid }, [
      node("registration", {}, encodeBigEndian(this.creds.registrationId, 4)),
      node("type", {}, KEY_BUNDLE_TYPE),
      node("identity", {}, this.creds.signedIdentityKey.public),
      xmppSignedPreKey(this.creds.signedPreKey) as BinaryNode,
      xmppPreKey(pair, keyId) as BinaryNode,
    ]);
  }

  /**
   * Encrypts a Message for a linked device, starting a session from the pre-keys the device
   * uploaded if there is none. The first message to a device carries the pre-key header (pkmsg);
   * later ones are plain Signal messages (msg), as the device holds the session by then. `fresh`
   * starts over with a new session, as a sender does when the device asks for a retry.
   *
   * `lid`: the message is LID-addressed (a group's, from `<lid>@lid`). The device decrypts those
   * under this party's LID address, where it may hold no session yet (it knew the party by its
   * phone number), so the first one starts a new session from the device's pre-keys; the old one
   * stays in the record to decrypt what the device still sends over it.
   */
  encryptFor(device: Device, message: proto.IMessage, opts: { fresh?: boolean; lid?: boolean } = {}): Promise<EncryptedMessage> {
    return this.exclusive(async () => {
      const jid = deviceJid(device);
      if (opts.fresh) await this.repo.deleteSession([jid]);
      const lidStart = !!opts.lid && !this.lidStarted.has(jid);
      if (opts.fresh || lidStart || !(await this.repo.validateSession(jid)).exists) await this.startSession(device);
      if (opts.lid) this.lidStarted.add(jid);
      const enc = await this.repo.encryptMessage({ jid, data: writeRandomPadMax16(proto.Message.encode(message).finish()) });
      let type = enc.type as EncryptedMessage["type"];
      let ciphertext: Uint8Array = enc.ciphertext;
      if (type === "pkmsg" && this.primed.has(jid)) {
        // libsignal keeps the header until the other side writes back; the inner message is the
        // same ratchet step, which the device decrypts with the session the first one built.
        ciphertext = proto.PreKeySignalMessage.decode(ciphertext.subarray(1)).message!;
        type = "msg";
      }
      this.primed.add(jid);
      return { type, ciphertext };
    });
  }

  private async startSession(device: Device): Promise<void> {
    const bundle = device.bundle;
    if (!bundle) throw new Error(`device ${deviceJid(device)} has uploaded no pre-keys`);
    // Each one-time pre-key serves one session: the device deletes it once used.
    const preKey = bundle.preKeys.shift();
    await this.repo.injectE2ESession({
      jid: deviceJid(device),
      session: {
        registrationId: bundle.registrationId,
        identityKey: generateSignalPubKey(bundle.identityKey),
        signedPreKey: {
          keyId: bundle.signedPreKey.keyId,
          publicKey: generateSignalPubKey(bundle.signedPreKey.publicKey),
          signature: bundle.signedPreKey.signature,
        },
        ...(preKey ? { preKey: { keyId: preKey.keyId, publicKey: generateSignalPubKey(preKey.publicKey) } } : {}),
      },
    } as never);
    this.primed.delete(deviceJid(device));
  }

  /** The party's own sender key in a group: the skmsg ciphertext of a Message and the distribution message (SKDM) that opens it. */
  encryptGroup(group: string, message: proto.IMessage): Promise<{ ciphertext: Uint8Array; skdm: Uint8Array }> {
    return this.exclusive(async () => {
      const data = writeRandomPadMax16(proto.Message.encode(message).finish());
      const r = await this.repo.encryptGroupMessage({ group, meId: `${this.lid}@lid`, data });
      return { ciphertext: r.ciphertext, skdm: r.senderKeyDistributionMessage };
    });
  }

  /** Takes a sender's key for a group from its distribution message (author: the sending device's JID). */
  processSenderKey(group: string, author: string, skdm: Uint8Array): Promise<void> {
    return this.exclusive(() =>
      this.repo.processSenderKeyDistributionMessage({ authorJid: author, item: { groupId: group, axolotlSenderKeyDistributionMessage: skdm } }),
    );
  }

  /** Decrypts a group message (skmsg) with the sender key the author distributed. */
  decryptGroup(group: string, author: string, ciphertext: Uint8Array): Promise<proto.Message> {
    return this.exclusive(async () => {
      const plain = await this.repo.decryptGroupMessage({ group, authorJid: author, msg: ciphertext });
      return proto.Message.decode(unpadRandomMax16(plain));
    });
  }

  /** Decrypts what a linked device encrypted for this party. */
  decryptFrom(device: Device, type: string, ciphertext: Uint8Array): Promise<proto.Message> {
    return this.exclusive(async () => {
      if (type !== "pkmsg" && type !== "msg") throw new Error(`cannot decrypt enc type ${type} in a 1:1 chat`);
      const plain = await this.repo.decryptMessage({ jid: deviceJid(device), type, ciphertext });
      return proto.Message.decode(unpadRandomMax16(plain));
    });
  }
}

/** The party of a number (made on first use; its LID is the one the directory gives the number). */
export function party(state: EmulatorState, number: string): SignalParty {
  let p = state.parties.get(number);
  if (!p) {
    p = new SignalParty(number, state.lid(number));
    state.parties.set(number, p);
  }
  return p;
}

/** The text of a Message as a person would read it (plain or extended text). */
export function messageText(m: proto.IMessage): string | undefined {
  const inner = m.deviceSentMessage?.message ?? m;
  return inner.conversation ?? inner.extendedTextMessage?.text ?? undefined;
}
