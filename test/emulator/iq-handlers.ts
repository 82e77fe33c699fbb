// Answers to the iqs a logged-in Baileys client sends: pre-keys, passive, digest, props,
// blocklist, privacy, usync, pings, logout and the rest. Unknown iqs get a well-formed error
// and a log line, never silence (a silent server makes the client wait out its query timeout).
import type { EmulatorLog } from "./log";
import { bytes, child, children, iqError, iqResult, node, uint, type BinaryNode } from "./nodes";
import { deviceJid, type Device, type EmulatorState } from "./state";

export interface IqContext {
  state: EmulatorState;
  device: Device;
  log: EmulatorLog;
  send(n: BinaryNode): void;
  /** The device uploaded pre-keys (the phone may now encrypt history for it). */
  onPreKeys(): void;
  /** The device logged itself out. */
  onLogout(): void;
}

export function handleIq(iq: BinaryNode, ctx: IqContext): void {
  const xmlns = iq.attrs.xmlns ?? "";
  const type = iq.attrs.type ?? "";
  const first = Array.isArray(iq.content) ? iq.content[0] : undefined;
  const { send, device, state } = ctx;

  if (type === "result" || type === "error") return; // answers to our own iqs
  switch (xmlns) {
    case "encrypt": {
      if (child(iq, "count")) return send(iqResult(iq, [node("count", { value: String(device.bundle?.preKeys.length ?? 0) })]));
      if (child(iq, "digest")) return send(iqResult(iq, [node("digest", {}, [])]));
      if (child(iq, "rotate")) return send(iqResult(iq));
      if (child(iq, "registration")) {
        const skey = child(iq, "skey");
        const list = child(iq, "list");
        device.bundle = {
          registrationId: uint(bytes(child(iq, "registration"))),
          identityKey: bytes(child(iq, "identity")),
          signedPreKey: {
            keyId: uint(bytes(child(skey, "id"))),
            publicKey: bytes(child(skey, "value")),
            signature: bytes(child(skey, "signature")),
          },
          preKeys: children(list, "key").map((k) => ({ keyId: uint(bytes(child(k, "id"))), publicKey: bytes(child(k, "value")) })),
        };
        send(iqResult(iq));
        return ctx.onPreKeys();
      }
      break;
    }
    case "passive":
      return send(iqResult(iq));
    case "w:p":
      return send(iqResult(iq));
    case "abt":
      return send(iqResult(iq, [node("props", { protocol: "1", hash: "emulator" }, [])]));
    case "w":
      return send(iqResult(iq, [node("props", { protocol: "1" }, [])]));
    case "blocklist":
      return send(iqResult(iq, [node("list", {}, [])]));
    case "privacy":
      return send(
        iqResult(
          iq,
          type === "get"
            ? [node("privacy", {}, ["last", "online", "profile", "status", "groupadd", "readreceipts"].map((name) => node("category", { name, value: "all" })))]
            : undefined,
        ),
      );
    case "usync":
      return send(usyncResult(iq, state));
    case "md": {
      if (child(iq, "remove-companion-device")) {
        device.unlinked = true;
        ctx.log.info("device logged itself out", { device: deviceJid(device) });
        send(iqResult(iq));
        return ctx.onLogout();
      }
      break;
    }
    case "w:sync:app:state":
      // No app-state collections on this server: every requested collection is empty.
      return send(
        iqResult(iq, [
          node(
            "sync",
            {},
            children(child(iq, "sync"), "collection").map((c) => node("collection", { name: c.attrs.name ?? "", version: "0" }, [])),
          ),
        ]),
      );
    case "w:stats":
    case "urn:xmpp:whatsapp:dirty":
    case "w:m":
    case "disappearing_mode":
    case "status":
      return send(iqResult(iq));
  }
  ctx.log.warn("unknown iq answered with an error", { xmlns, type, child: first && typeof first === "object" ? first.tag : undefined });
  send(iqError(iq, 501, "feature-not-implemented"));
}

/** usync: the contact (on WhatsApp or not), devices and LID protocols, per user asked. */
export function usyncResult(iq: BinaryNode, state: EmulatorState): BinaryNode {
  const usync = child(iq, "usync");
  const query = child(usync, "query");
  const wanted = new Set((Array.isArray(query?.content) ? query.content : []).map((p) => p.tag));
  const users = children(child(usync, "list"), "user").map((u) => {
    const phoneText = bytes(child(u, "contact")).toString("utf8");
    const number = (phoneText || u.attrs.jid || "").replace(/^\+/, "").split("@")[0]!.split(":")[0]!;
    const registered = state.isRegistered(number);
    const parts: BinaryNode[] = [];
    if (wanted.has("contact")) parts.push(node("contact", { type: registered ? "in" : "out" }));
    if (wanted.has("devices")) {
      const ids = [0, ...[...state.devices.values()].filter((d) => d.phone === number && !d.unlinked).map((d) => d.deviceId)];
      parts.push(node("devices", {}, [node("device-list", {}, ids.map((id) => node("device", { id: String(id) })))]));
    }
    const phone = state.phones.get(number);
    if (wanted.has("lid") && phone) parts.push(node("lid", { val: `${phone.lid}@lid` }));
    return node("user", { jid: `${number}@s.whatsapp.net` }, parts);
  });
  return iqResult(iq, [node("usync", { sid: usync?.attrs.sid ?? "", index: "0", last: "true", mode: "query", context: usync?.attrs.context ?? "" }, [node("list", {}, users)])]);
}
