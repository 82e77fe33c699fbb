// Everything the emulator knows, in memory: phones (the accounts), the devices linked to them,
// the directory of numbers on WhatsApp, and live connections. One instance per emulator.
import { Curve } from "@whiskeysockets/baileys";
import { ChatLog } from "./chat-log";
import type { SignalParty } from "./contacts";
import type { Group } from "./groups";
import type { MediaServer } from "./media-server";
import type { OutboxEntry } from "./messages";
import type { BinaryNode } from "./nodes";
import type { KeyPair } from "./noise";

export interface HistoryContact {
  id: string;
  name?: string | null;
  notify?: string | null;
}

export interface HistoryChat {
  id: string;
  name?: string | null;
  isGroup?: boolean;
  unreadCount?: number;
  timestamp?: number;
}

export interface History {
  contacts: HistoryContact[];
  chats: HistoryChat[];
}

/** A phone: the primary device of an account, which links companions and sends them history. */
export interface Phone {
  number: string;
  pushName: string;
  /** The account's ADV signing key: it signs each linked device's identity. */
  accountKey: KeyPair;
  /** The phone's identity key, used when linking by code. */
  identity: KeyPair;
  lid: string;
  history: History;
  nextDeviceId: number;
}

/**
 * The device's pre-key bundle, as uploaded after login. Parties (the phone, contacts) start their
 * sessions with it; each takes one one-time pre-key, which the server hands out only once.
 */
export interface PreKeyBundle {
  registrationId: number;
  identityKey: Uint8Array;
  signedPreKey: { keyId: number; publicKey: Uint8Array; signature: Uint8Array };
  preKeys: { keyId: number; publicKey: Uint8Array }[];
}

export interface Device {
  phone: string;
  deviceId: number;
  /** The client's static Noise key: how a returning device is recognised at login. */
  noiseKey: string;
  identityKey: Uint8Array;
  linkedAt: number;
  unlinked: boolean;
  historySent: boolean;
  bundle?: PreKeyBundle;
}

/** A number's presence as the server holds it; `last` (seconds) when it went unavailable. */
export interface Presence {
  state: "available" | "unavailable";
  last?: number;
}

/** A presence or chat state a linked device sent, as the control API shows it. */
export interface PresenceRecord {
  type: "presence";
  from: string;
  groupId?: string;
  state: "available" | "unavailable" | "composing" | "recording" | "paused";
  timestamp: number;
}

/** What the server can send a logged-in device on its current connection. */
export interface Online {
  readonly closed: boolean;
  sendNode(n: BinaryNode): void;
}

export const deviceJid = (d: Pick<Device, "phone" | "deviceId">) => `${d.phone}:${d.deviceId}@s.whatsapp.net`;

export class EmulatorState {
  readonly phones = new Map<string, Phone>();
  readonly devices = new Map<string, Device>();
  /** Numbers registered on WhatsApp besides the phones themselves. */
  readonly directory = new Set<string>();
  refuseUntil = 0;
  /** Extra delay before answering a logged-in device's iqs (a slow network or server). */
  latencyMs = 0;
  /** Devices waiting for their phone to enter a pairing code, by phone number. */
  readonly codeLinks = new Map<string, import("./connection").Connection>();
  /** Each registered number's LID user, given once and kept (a phone keeps the one its number had). */
  private readonly lids = new Map<string, string>();
  private readonly lidNumbers = new Map<string, string>();
  /** The Signal party behind each number's primary device (contacts and phones), made on first use. */
  readonly parties = new Map<string, SignalParty>();
  /** What the server holds for each device until it acknowledges it, by device JID. */
  readonly outbox = new Map<string, OutboxEntry[]>();
  /** The live connection of each logged-in device, by device JID. */
  readonly online = new Map<string, Online>();
  /**
   * Trusted-contact privacy tokens each account issued (`<iq xmlns="privacy" type="set"><tokens>`),
   * by "issuer phone>contact jid": the last token's time and how many times it was issued.
   */
  readonly issuedTokens = new Map<string, { t: number; times: number }>();
  /** The media server devices upload to and download from (announced by the media_conn iq). */
  media?: MediaServer;
  /** Groups by JID (`<digits>@g.us`), see groups.ts. */
  readonly groups = new Map<string, Group>();
  /** Invite codes ever issued, with their group: a revoked one stays known, so joining with it answers 410 gone. */
  readonly invites = new Map<string, { group: string; revoked: boolean }>();
  /** How many iqs each account's devices sent, by phone and then by "xmlns child" (see countIq). */
  readonly iqCounts = new Map<string, Map<string, number>>();
  /** WebSocket connections opened since start (GET /control/stats). */
  socketsOpened = 0;
  /** Logins that found the same device (phone and device id) still connected: the older connection was replaced (GET /control/stats). */
  socketsReplaced = 0;
  /** Seconds added to every time the server states (`t` of messages, acks, receipts, notifications): `/control/clock`. */
  clockOffset = 0;
  /** The messages of each chat that a later reaction, edit, revoke or vote may name, with poll secrets (chat-log.ts). */
  readonly chats = new ChatLog();
  /** Each number's last stated presence (presence.ts): a contact's from the control API, an account's from its devices. */
  readonly presences = new Map<string, Presence>();
  /**
   * Devices subscribed to each number's presence (`<presence type="subscribe" to=…>`), by number
   * and device JID: the JID they asked by, and the connection the subscription lasts for.
   */
  readonly presenceSubscribers = new Map<string, Map<string, { jid: string; conn: Online }>>();
  /** What each account's linked devices announced (available/unavailable), by phone. */
  readonly presenceLog = new Map<string, PresenceRecord[]>();

  /** The server's clock in seconds, shifted by `clockOffset`. */
  now(): number {
    return Math.floor(Date.now() / 1000) + this.clockOffset;
  }

  phone(number: string, pushName?: string): Phone {
    let phone = this.phones.get(number);
    if (!phone) {
      phone = {
        number,
        pushName: pushName ?? `Phone ${number}`,
        accountKey: Curve.generateKeyPair(),
        identity: Curve.generateKeyPair(),
        lid: this.lid(number),
        history: { contacts: [], chats: [] },
        nextDeviceId: 1,
      };
      this.phones.set(number, phone);
    } else if (pushName) {
      phone.pushName = pushName;
    }
    return phone;
  }

  device(phone: string, deviceId: number): Device | undefined {
    return this.devices.get(`${phone}:${deviceId}`);
  }

  addDevice(d: Device): void {
    this.devices.set(`${d.phone}:${d.deviceId}`, d);
  }

  lid(number: string): string {
    let lid = this.lids.get(number);
    if (!lid) {
      do lid = String(100000000000000 + Math.floor(Math.random() * 800000000000000));
      while (this.lidNumbers.has(lid));
      this.lids.set(number, lid);
      this.lidNumbers.set(lid, number);
    }
    return lid;
  }

  /** The number behind a user JID, PN or LID (`49151…@s.whatsapp.net`, `1234…:2@lid`). */
  numberOf(jid: string): string | undefined {
    const [user, server] = jid.split("@");
    const bare = user?.split(":")[0]?.split("_")[0];
    if (!bare) return undefined;
    return server === "lid" ? this.lidNumbers.get(bare) : bare;
  }

  linkedDevices(number: string): Device[] {
    return [...this.devices.values()].filter((d) => d.phone === number && !d.unlinked);
  }

  isRegistered(number: string): boolean {
    return this.directory.has(number) || this.phones.has(number);
  }

  /**
   * Counts an iq a device of `phone` sent, under its xmlns and first child's tag ("w:g2 query",
   * "encrypt key"); just the xmlns when the child is named like it ("usync") or there is none.
   */
  countIq(phone: string, xmlns: string, tag: string | undefined): void {
    const key = !tag || tag === xmlns ? xmlns : `${xmlns} ${tag}`;
    const counts = this.iqCounts.get(phone) ?? new Map<string, number>();
    counts.set(key, (counts.get(key) ?? 0) + 1);
    this.iqCounts.set(phone, counts);
  }
}
