// Everything the emulator knows, in memory: phones (the accounts), the devices linked to them,
// the directory of numbers on WhatsApp, and live connections. One instance per emulator.
import { Curve } from "@whiskeysockets/baileys";
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

/** The device's pre-key bundle, as uploaded after login; the phone encrypts history with it. */
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

  phone(number: string, pushName?: string): Phone {
    let phone = this.phones.get(number);
    if (!phone) {
      phone = {
        number,
        pushName: pushName ?? `Phone ${number}`,
        accountKey: Curve.generateKeyPair(),
        identity: Curve.generateKeyPair(),
        lid: String(100000000000000 + Math.floor(Math.random() * 800000000000000)),
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

  isRegistered(number: string): boolean {
    return this.directory.has(number) || this.phones.has(number);
  }
}
