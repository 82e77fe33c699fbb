// The secrets of polls this session sent or received, kept on the volume: WhatsApp encrypts each
// vote with its poll's secret, so a vote that comes days later needs it.
import { KeyedLines } from "./keyed-lines";

/** About 10,000 polls. */
const MAX_BYTES = 4 * 1024 * 1024;

export interface PollSecret {
  id: string;
  /** The poll's messageSecret, base64. */
  secret: string;
  /** Who created it, as WhatsApp keys it (the account's own jid for ours). */
  creator: string;
  options: string[];
}

export class PollSecrets extends KeyedLines<PollSecret> {
  constructor(file: string) {
    super(file, MAX_BYTES, (p) => p.id);
  }
}
