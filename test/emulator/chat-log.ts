// The messages of each chat that later messages may point at: a reaction, edit, revoke or poll vote
// names its target by id, and the sender writes the target's key from its own point of view
// (fromMe, participant), so the emulator must know who wrote what. Polls keep their
// messageSecret, learnt the way a phone learns it: from the creation message it sent or decrypted.

/** A poll as its creation message states it, with the secret its votes are encrypted under. */
export interface LoggedPoll {
  question: string;
  options: string[];
  /** More than one option may be chosen (selectableOptionsCount other than 1). */
  multiple: boolean;
  /** messageContextInfo.messageSecret of the creation message (32 bytes). */
  secret: Uint8Array;
}

export type LoggedKind = "text" | "media" | "location" | "contact" | "poll";

export interface LoggedMessage {
  id: string;
  /** The number that wrote it (a directory contact or an account). */
  author: string;
  kind: LoggedKind;
  poll?: LoggedPoll;
  revoked?: boolean;
}

/** Messages kept per chat; old ones drop out, as a phone keeps only so much to react to in memory. */
const KEPT_PER_CHAT = 2000;

/** The key of a 1:1 chat, the same from both ends. */
export const directChat = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`);

export class ChatLog {
  private readonly chats = new Map<string, Map<string, LoggedMessage>>();
  /** Device messages the server took but whose recipients are still decrypting them, by "chat|id". */
  private readonly pending = new Map<string, Promise<unknown>>();

  /** Keeps a message under its chat (a group JID or directChat()); the first record of an id stands. */
  remember(chat: string, m: LoggedMessage): void {
    const log = this.chats.get(chat) ?? new Map<string, LoggedMessage>();
    this.chats.set(chat, log);
    if (log.has(m.id)) return;
    log.set(m.id, m);
    if (log.size > KEPT_PER_CHAT) log.delete(log.keys().next().value!);
  }

  find(chat: string, id: string): LoggedMessage | undefined {
    return this.chats.get(chat)?.get(id);
  }

  /** Notes that a device's message is being read by its recipients until `work` settles. */
  track(chat: string, id: string, work: Promise<unknown>): void {
    const key = `${chat}|${id}`;
    const done = work.catch(() => undefined).finally(() => {
      if (this.pending.get(key) === done) this.pending.delete(key);
    });
    this.pending.set(key, done);
  }

  /**
   * The message, once known: a contact answers what it has received, so a control call naming a
   * device's message that is still on its way (the HTTP call can overtake the WebSocket frame, and
   * the contact decrypts after the ack) waits for it, up to `ms`.
   */
  async wait(chat: string, id: string, ms: number): Promise<LoggedMessage | undefined> {
    const end = Date.now() + ms;
    for (;;) {
      const found = this.find(chat, id);
      if (found || Date.now() >= end) return found;
      const pending = this.pending.get(`${chat}|${id}`);
      await (pending ? Promise.race([pending, Bun.sleep(end - Date.now())]) : Bun.sleep(10));
    }
  }
}
