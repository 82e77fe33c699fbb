// The phone's side of the initial history: a HistorySync with the phone's conversations
// (INITIAL_BOOTSTRAP) and one with push names (PUSH_NAME), each deflated inline into a
// history-sync notification and Signal-encrypted from the phone to the new device with the
// pre-keys that device uploaded. The phone's Signal state is Baileys' own repository.
import {
  addTransactionCapability,
  DEFAULT_CONNECTION_CONFIG,
  generateSignalPubKey,
  initAuthCreds,
  proto,
  writeRandomPadMax16,
  type SignalDataTypeMap,
  type SignalKeyStore,
} from "@whiskeysockets/baileys";
import pino from "pino";
import { deflateSync } from "node:zlib";
import { deviceJid, type Device, type History, type Phone } from "./state";

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
const repos = new WeakMap<Phone, Repo>();

/** The phone's Signal identity and sessions (one per phone, in memory). */
function phoneRepository(phone: Phone): Repo {
  let repo = repos.get(phone);
  if (!repo) {
    const creds = initAuthCreds();
    const keys = addTransactionCapability(memoryKeyStore(), silent, { maxCommitRetries: 1, delayBetweenTriesMs: 0 });
    repo = makeRepository({ creds, keys }, silent, async () => []);
    repos.set(phone, repo);
  }
  return repo;
}

export function historyPayloads(phone: Phone, history: History): proto.IHistorySync[] {
  const conversations = history.chats.map((c) => ({
    id: c.id,
    name: c.name ?? undefined,
    displayName: c.name ?? undefined,
    unreadCount: c.unreadCount ?? 0,
    conversationTimestamp: c.timestamp ?? undefined,
  }));
  // Named contacts without a chat still reach the device with their name, as a conversation
  // entry would carry it; chats come only from history.chats.
  const pushnames = history.contacts.filter((c) => c.notify).map((c) => ({ id: c.id, pushname: c.notify! }));
  return [
    { syncType: proto.HistorySync.HistorySyncType.INITIAL_BOOTSTRAP, conversations, chunkOrder: 1, progress: 100 },
    { syncType: proto.HistorySync.HistorySyncType.PUSH_NAME, pushnames, chunkOrder: 1, progress: 100 },
  ];
}

export interface EncryptedMessage {
  type: "pkmsg" | "msg";
  ciphertext: Uint8Array;
}

/** Encrypts each history payload for the device; the device must have uploaded its pre-keys. */
export async function encryptHistory(phone: Phone, device: Device, history: History): Promise<EncryptedMessage[]> {
  const bundle = device.bundle;
  if (!bundle) throw new Error(`device ${deviceJid(device)} has no pre-keys to encrypt history with`);
  const repo = phoneRepository(phone);
  const jid = deviceJid(device);
  const preKey = bundle.preKeys[0];
  await repo.injectE2ESession({
    jid,
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
  const out: EncryptedMessage[] = [];
  for (const payload of historyPayloads(phone, history)) {
    const inline = deflateSync(proto.HistorySync.encode(payload).finish());
    const message = proto.Message.encode({
      protocolMessage: {
        type: proto.Message.ProtocolMessage.Type.HISTORY_SYNC_NOTIFICATION,
        historySyncNotification: {
          syncType: payload.syncType,
          initialHistBootstrapInlinePayload: inline,
          chunkOrder: 1,
          progress: 100,
        },
      },
    }).finish();
    const enc = await repo.encryptMessage({ jid, data: writeRandomPadMax16(message) });
    out.push({ type: enc.type as "pkmsg" | "msg", ciphertext: enc.ciphertext });
  }
  return out;
}
