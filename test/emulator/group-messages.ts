// Group messages with Signal sender keys, as WhatsApp carries them. A sender encrypts a message
// once with its sender key (`skmsg`) and hands each member device the key's distribution message
// (SKDM) inside a pairwise Signal message (`pkmsg`/`msg`); members keep the key and decrypt every
// later skmsg with it. Both ends are Baileys' own Signal repository.
import type { proto } from "@whiskeysockets/baileys";
import { party, type SignalParty } from "./contacts";
import { loggable } from "./conversation";
import { devicesOf, isAdmin, numberOfJid, type Group } from "./groups";
import type { EmulatorLog } from "./log";
import { deliver, enqueue, messageId, stanzaKind } from "./messages";
import { bytes, child, children, node, type BinaryNode } from "./nodes";
import { recordFromDevice } from "./received";
import { deviceJid, type Device, type EmulatorState, type Online } from "./state";

/** The "group|device" pairs each party has already given its sender key to. */
const distributed = new WeakMap<SignalParty, Set<string>>();

/**
 * Member `from` (a directory contact or a phone, i.e. its primary device) writes to the group:
 * each linked device of every member account (the sender's own included, as a phone's message
 * reaches its companions) gets `<message from=group participant=<lid> participant_pn=<pn>
 * addressing_mode="lid">` with the SKDM in a `pkmsg`/`msg` the first time, and the `skmsg`.
 */
export async function sendToGroup(state: EmulatorState, log: EmulatorLog, g: Group, from: string, message: proto.IMessage): Promise<string> {
  const id = messageId();
  const sender = party(state, from);
  const { ciphertext, skdm } = await sender.encryptGroup(g.jid, message);
  const logged = loggable(message);
  if (logged) state.chats.remember(g.jid, { id, author: from, ...logged });
  const kind = stanzaKind(message);
  const extra = kind.enc;
  const attrs: Record<string, string> = {
    id,
    from: g.jid,
    participant: `${sender.lid}@lid`,
    participant_pn: `${from}@s.whatsapp.net`,
    addressing_mode: "lid",
    ...kind.message,
    t: String(state.now()),
  };
  const pushName = state.phones.get(from)?.pushName;
  if (pushName) attrs.notify = pushName;
  const given = distributed.get(sender) ?? new Set<string>();
  distributed.set(sender, given);
  const devices = devicesOf(state, g.members.keys());
  for (const device of devices) {
    enqueue(state, device, {
      id,
      kind: "message",
      needsPreKeys: true,
      // Built on delivery: the SKDM goes along the first time, and again (over a new session) when the device asks for a retry.
      async build(fresh) {
        const encs: BinaryNode[] = [];
        const key = `${g.jid}|${deviceJid(device)}`;
        if (fresh || !given.has(key)) {
          const distribution = { senderKeyDistributionMessage: { groupId: g.jid, axolotlSenderKeyDistributionMessage: skdm } };
          const enc = await sender.encryptFor(device, distribution, { fresh, lid: true });
          encs.push(node("enc", { v: "2", type: enc.type, ...extra }, enc.ciphertext));
          given.add(key);
        }
        encs.push(node("enc", { v: "2", type: "skmsg", ...extra }, ciphertext));
        return node("message", attrs, encs);
      },
    });
  }
  await Promise.all(devices.map((d) => deliver(state, d, log)));
  log.info("member wrote to a group", { group: g.jid, from, id, devices: devices.length, ...kind.message });
  return id;
}

/** Each group's fan-out work, one message after another: a member must take a sender key before it decrypts with it. */
const fanouts = new WeakMap<Group, Promise<void>>();

/**
 * A device's message to a group. The server refuses it (ack with `error`) for an unknown group
 * (404), a sender not in it (403) or a non-admin in an announcement group (403); otherwise it acks
 * it. Each member account's primary device (a Signal party) takes its SKDM copy, decrypts the
 * skmsg, records the message and answers a delivery receipt (`participant` = its LID); this runs
 * after the ack, in the group's order, without holding up the connection. Copies for the sender's
 * own phone are accepted unread, as in 1:1 chats.
 */
export function onDeviceGroupMessage(state: EmulatorState, log: EmulatorLog, device: Device, conn: Online, n: BinaryNode): void {
  const id = n.attrs.id ?? "";
  const to = n.attrs.to ?? "";
  const t = state.now();
  const g = state.groups.get(to);
  const role = g?.members.get(device.phone);
  const refusal = !g ? "404" : !role ? "403" : g.announce && !isAdmin(role) ? "403" : undefined;
  if (refusal || !g) {
    log.info("group message refused", { device: deviceJid(device), to, id, error: refusal });
    conn.sendNode(node("ack", { id, class: "message", from: to, t: String(t), error: refusal ?? "404" }));
    return;
  }
  conn.sendNode(node("ack", { id, class: "message", from: g.jid, t: String(t) }));
  const run = (fanouts.get(g) ?? Promise.resolve()).then(() => fanOut(state, log, device, conn, n, g, t));
  fanouts.set(g, run.catch((err) => log.warn("group fan-out failed", { group: g.jid, id, error: String(err) })));
  state.chats.track(g.jid, id, run);
}

async function fanOut(state: EmulatorState, log: EmulatorLog, device: Device, conn: Online, n: BinaryNode, g: Group, t: number): Promise<void> {
  const id = n.attrs.id ?? "";
  // Baileys sends as its LID device (`<lid>:<device>@lid`): the sender key is that address's.
  const author = `${state.lid(device.phone)}:${device.deviceId}@lid`;
  const members = [...g.members.keys()].filter((m) => m !== device.phone);
  const copies = new Map<string, BinaryNode>();
  for (const to of children(child(n, "participants"), "to")) {
    const jid = to.attrs.jid ?? "";
    const number = numberOfJid(state, jid);
    const enc = child(to, "enc");
    // Primary devices only: companions are not listed with a key index, so none gets a copy.
    if (number && enc && !/:[1-9]\d*@/.test(jid)) copies.set(number, enc);
  }
  await Promise.all(
    members.map(async (number) => {
      const recipient = party(state, number);
      const copy = copies.get(number);
      try {
        if (copy) {
          const m = await recipient.decryptFrom(device, copy.attrs.type ?? "", bytes(copy));
          const skdm = m.senderKeyDistributionMessage?.axolotlSenderKeyDistributionMessage;
          if (skdm?.length) await recipient.processSenderKey(g.jid, author, skdm);
        }
        const sk = children(n, "enc").find((e) => e.attrs.type === "skmsg");
        if (!sk) throw new Error("no skmsg in the stanza");
        const message = await recipient.decryptGroup(g.jid, author, bytes(sk));
        const senderIsAdmin = isAdmin(g.members.get(device.phone));
        await recordFromDevice(state, log, recipient, { id, from: device.phone, groupId: g.jid, timestamp: t }, message, { chat: g.jid, addressing: "lid", senderIsAdmin });
      } catch (err) {
        log.warn("member could not decrypt a group message", { device: deviceJid(device), group: g.jid, member: number, id, error: String(err) });
        return;
      }
      conn.sendNode(node("receipt", { id, from: g.jid, participant: `${recipient.lid}@lid`, t: String(t) }));
    }),
  );
}
