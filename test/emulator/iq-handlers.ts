// Answers to the iqs a logged-in Baileys client sends: pre-keys (its own, and the bundles of
// the parties it writes to), passive, digest, props, blocklist, privacy, usync, media_conn, pings, logout, groups
// (group-iq.ts) and the rest. Unknown iqs get a well-formed error and a log line, never silence (a
// silent server makes the client wait out its query timeout). Every get and set is counted per
// account (state.countIq) for `/control/stats`.
import { party } from "./contacts";
import { handleGroupIq } from "./group-iq";
import type { EmulatorLog } from "./log";
import { MAX_UPLOAD, MEDIA_AUTH_TTL, MEDIA_CONN_TTL } from "./media-server";
import { bytes, child, children, iqError, iqResult, node, uint, type BinaryNode } from "./nodes";
import { deviceJid, type Device, type EmulatorState } from "./state";

export interface IqContext {
  state: EmulatorState;
  device: Device;
  log: EmulatorLog;
  send(n: BinaryNode): void;
  /** The device uploaded pre-keys: what waited for them goes out before the upload is answered. */
  onPreKeys(): Promise<void>;
  /** The device logged itself out. */
  onLogout(): void;
}

export function handleIq(iq: BinaryNode, ctx: IqContext): void | Promise<void> {
  const xmlns = iq.attrs.xmlns ?? "";
  const type = iq.attrs.type ?? "";
  const first = Array.isArray(iq.content) ? iq.content[0] : undefined;
  const { send, device, state } = ctx;

  if (type === "result" || type === "error") return; // answers to our own iqs
  state.countIq(device.phone, xmlns, first && typeof first === "object" ? first.tag : undefined);
  switch (xmlns) {
    case "w:g2":
      return handleGroupIq(iq, ctx);
    case "encrypt": {
      if (child(iq, "count")) return send(iqResult(iq, [node("count", { value: String(device.bundle?.preKeys.length ?? 0) })]));
      if (child(iq, "digest")) return send(iqResult(iq, [node("digest", {}, [])]));
      if (child(iq, "rotate")) return send(iqResult(iq));
      if (type === "get" && child(iq, "key")) return keyBundles(iq, ctx);
      if (child(iq, "registration")) {
        const skey = child(iq, "skey");
        const list = child(iq, "list");
        const identityKey = bytes(child(iq, "identity"));
        const uploaded = children(list, "key").map((k) => ({ keyId: uint(bytes(child(k, "id"))), publicKey: bytes(child(k, "value")) }));
        // A later upload tops up the one-time pre-keys the server still holds for this identity.
        const kept = device.bundle && Buffer.from(device.bundle.identityKey).equals(identityKey) ? device.bundle.preKeys : [];
        const ids = new Set(uploaded.map((k) => k.keyId));
        device.bundle = {
          registrationId: uint(bytes(child(iq, "registration"))),
          identityKey,
          signedPreKey: {
            keyId: uint(bytes(child(skey, "id"))),
            publicKey: bytes(child(skey, "value")),
            signature: bytes(child(skey, "signature")),
          },
          preKeys: [...kept.filter((k) => !ids.has(k.keyId)), ...uploaded],
        };
        // Answered once what waited for pre-keys is taken (see Connection.sendHistory), without
        // holding up the device's other stanzas meanwhile.
        void ctx.onPreKeys().then(() => send(iqResult(iq)));
        return;
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
      for (const token of children(child(iq, "tokens"), "token")) {
        if (token.attrs.type !== "trusted_contact" || !token.attrs.jid) continue;
        const key = `${device.phone}>${token.attrs.jid}`;
        state.issuedTokens.set(key, { t: Number(token.attrs.t) || 0, times: (state.issuedTokens.get(key)?.times ?? 0) + 1 });
      }
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
    case "w:m":
      if (child(iq, "media_conn")) return send(mediaConn(iq, state));
      return send(iqResult(iq));
    case "w:stats":
    case "urn:xmpp:whatsapp:dirty":
    case "disappearing_mode":
    case "status":
      return send(iqResult(iq));
  }
  ctx.log.warn("unknown iq answered with an error", { xmlns, type, child: first && typeof first === "object" ? first.tag : undefined });
  send(iqError(iq, 501, "feature-not-implemented"));
}

/**
 * `w:m` media_conn: where to upload and download media, and a token for uploads, as WhatsApp
 * answers it (its own hosts are mmg.whatsapp.net and the like; here the emulator's media server).
 */
function mediaConn(iq: BinaryNode, state: EmulatorState): BinaryNode {
  const media = state.media;
  if (!media) return iqError(iq, 503, "service-unavailable");
  return iqResult(iq, [
    node("media_conn", { auth: media.issueAuth(), ttl: String(MEDIA_CONN_TTL), auth_ttl: String(MEDIA_AUTH_TTL), max_buckets: "12" }, [
      node("host", { hostname: media.host, maxContentLengthBytes: String(MAX_UPLOAD) }),
    ]),
  ]);
}

/**
 * `encrypt` get: the pre-key bundle of each user asked, by PN or LID JID. Only primary devices
 * (device 0) are parties; a number not on WhatsApp, or a companion device, answers an error.
 */
async function keyBundles(iq: BinaryNode, ctx: IqContext): Promise<void> {
  const users = await Promise.all(
    children(child(iq, "key"), "user").map(async (u) => {
      const jid = u.attrs.jid ?? "";
      const number = ctx.state.numberOf(jid);
      const deviceId = Number(jid.split("@")[0]?.split(":")[1] ?? 0);
      if (!number || !ctx.state.isRegistered(number) || deviceId !== 0) {
        return node("user", { jid }, [node("error", { code: "404", text: "item-not-found" })]);
      }
      return party(ctx.state, number).bundleNode(jid);
    }),
  );
  ctx.send(iqResult(iq, [node("list", {}, users)]));
}

/**
 * usync: the contact (on WhatsApp or not), devices and LID protocols, per user asked. A number
 * not on WhatsApp has no devices and no LID, so a client has nobody to encrypt a message for.
 */
export function usyncResult(iq: BinaryNode, state: EmulatorState): BinaryNode {
  const usync = child(iq, "usync");
  const query = child(usync, "query");
  const wanted = new Set((Array.isArray(query?.content) ? query.content : []).map((p) => p.tag));
  const users = children(child(usync, "list"), "user").map((u) => {
    const phoneText = bytes(child(u, "contact")).toString("utf8");
    const number = phoneText ? phoneText.replace(/^\+/, "").split("@")[0]! : (state.numberOf(u.attrs.jid ?? "") ?? "");
    const registered = number !== "" && state.isRegistered(number);
    const parts: BinaryNode[] = [];
    if (wanted.has("contact")) parts.push(node("contact", { type: registered ? "in" : "out" }));
    if (wanted.has("devices")) {
      // Companions are listed without a key index, so a sender writes to primary devices only.
      const ids = registered ? [0, ...state.linkedDevices(number).map((d) => d.deviceId)] : [];
      parts.push(node("devices", {}, [node("device-list", {}, ids.map((id) => node("device", { id: String(id) })))]));
    }
    // A user asked by LID (a LID group's members) is answered under that LID, without a `lid` of its own.
    if (wanted.has("lid") && registered && !u.attrs.jid?.endsWith("@lid")) parts.push(node("lid", { val: `${state.lid(number)}@lid` }));
    return node("user", { jid: phoneText || !u.attrs.jid ? `${number}@s.whatsapp.net` : u.attrs.jid }, parts);
  });
  return iqResult(iq, [node("usync", { sid: usync?.attrs.sid ?? "", index: "0", last: "true", mode: "query", context: usync?.attrs.context ?? "" }, [node("list", {}, users)])]);
}
