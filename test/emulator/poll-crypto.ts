// Poll votes as WhatsApp encrypts them: the vote (a PollVoteMessage listing the SHA-256 of each
// chosen option's name) is AES-256-GCM encrypted under a key derived from the poll's
// messageSecret, so only those who saw the poll can read it. The key is HKDF-SHA256 (one block)
// of the secret with info = poll id ‖ creator JID ‖ voter JID ‖ "Poll Vote"; the additional data
// is "<poll id>\0<voter JID>". This is the encrypt side of Baileys' `decryptPollVote`; the decrypt
// side is Baileys' own.
import { decryptPollVote, proto } from "@whiskeysockets/baileys";
import { createCipheriv, createHash, createHmac, randomBytes } from "node:crypto";

export interface PollVoteParties {
  pollId: string;
  /** The poll's author and the voter, as JIDs without device, in the chat's addressing (PN in 1:1 chats here, LID in LID groups). */
  creatorJid: string;
  voterJid: string;
}

/** SHA-256 of an option's name: how a vote names the options it picks. */
export const optionHash = (name: string): Buffer => createHash("sha256").update(name, "utf8").digest();

function voteKey(secret: Uint8Array, p: PollVoteParties): Buffer {
  const extract = createHmac("sha256", Buffer.alloc(32)).update(secret).digest();
  const info = Buffer.concat([Buffer.from(p.pollId), Buffer.from(p.creatorJid), Buffer.from(p.voterJid), Buffer.from("Poll Vote"), Buffer.from([1])]);
  return createHmac("sha256", extract).update(info).digest();
}

/** Encrypts a vote for the named options (none: the vote is withdrawn) with a fresh 12-byte IV; the GCM tag follows the ciphertext. */
export function encryptPollVote(options: string[], secret: Uint8Array, p: PollVoteParties): { encPayload: Buffer; encIv: Buffer } {
  const plain = proto.Message.PollVoteMessage.encode({ selectedOptions: options.map(optionHash) }).finish();
  const encIv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", voteKey(secret, p), encIv);
  cipher.setAAD(Buffer.from(`${p.pollId}\u0000${p.voterJid}`));
  const encPayload = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  return { encPayload, encIv };
}

/**
 * Opens a vote with Baileys' own decryptPollVote, trying each pair of JIDs in turn (WhatsApp is
 * moving chats from phone numbers to LIDs, and clients try both); the option hashes chosen, or
 * undefined if no pair opens it.
 */
export function openPollVote(
  vote: { encPayload?: Uint8Array | null; encIv?: Uint8Array | null },
  secret: Uint8Array,
  pollId: string,
  pairs: { creatorJid: string; voterJid: string }[],
): Buffer[] | undefined {
  if (!vote.encPayload?.length || !vote.encIv?.length) return undefined;
  for (const { creatorJid, voterJid } of pairs) {
    try {
      const m = decryptPollVote(
        { encPayload: vote.encPayload, encIv: vote.encIv },
        { pollCreatorJid: creatorJid, pollMsgId: pollId, pollEncKey: secret, voterJid },
      );
      return (m.selectedOptions ?? []).map((o) => Buffer.from(o));
    } catch {}
  }
  return undefined;
}
