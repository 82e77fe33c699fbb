// One client connection: the Noise handshake, then binary nodes both ways. A client without
// credentials gets QR refs and waits to be scanned; a known device logs in and is served.
import { Curve, decodeBinaryNode, encodeBinaryNode, proto } from "@whiskeysockets/baileys";
import type { ServerIdentity } from "./certs";
import { party } from "./contacts";
import { onDeviceGroupMessage } from "./group-messages";
import { historyMessages } from "./history";
import { handleIq } from "./iq-handlers";
import type { EmulatorLog } from "./log";
import { deliver, enqueueMessage, onDeviceAck, onDeviceMessage, onDeviceReceipt, settled } from "./messages";
import { frame, FrameReader, NoiseResponder, type KeyPair, type Transport } from "./noise";
import { newId, node, S_WHATSAPP_NET, type BinaryNode } from "./nodes";
import { pairSuccess, verifyPairReply, type PairOffer } from "./pairing";
import { phoneHello, readCompanionFinish, readCompanionHello, type CodeLinkRequest, type PhoneHello } from "./pairing-code";
import { onDeviceChatState, onDevicePresence } from "./presence";
import { deviceJid, type Device, type EmulatorState, type Phone } from "./state";

export interface Socket {
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export interface ConnectionOptions {
  state: EmulatorState;
  identity: ServerIdentity;
  log: EmulatorLog;
  qrRefs: number;
  /** Called when this connection starts or stops waiting to be scanned. */
  onRefs(conn: Connection, refs: string[]): void;
  onClose(conn: Connection): void;
}

interface PendingPair {
  phone: Phone;
  deviceId: number;
  offer: PairOffer;
  resolve(ok: boolean): void;
}

export class Connection {
  private readonly reader = new FrameReader();
  private noise: NoiseResponder | null = new NoiseResponder();
  private ephemeral: KeyPair | null = null;
  private transport: Transport | null = null;
  private queue: Promise<void> = Promise.resolve();
  private pendingPair: PendingPair | null = null;
  closed = false;
  /** The client's static Noise key (base64), known after the handshake. */
  noiseKey = "";
  /** The unregistered client's identity key, from its registration payload. */
  identityKey: Uint8Array | null = null;
  device: Device | null = null;
  refs: string[] = [];
  /** A pairing-code request this device made, and the phone's side of it once under way. */
  codeRequest: CodeLinkRequest | null = null;
  private codeHello: { hello: PhoneHello; identity: Phone["identity"]; done(r: ReturnType<typeof readCompanionFinish>): void } | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly opts: ConnectionOptions,
  ) {}

  receive(data: Uint8Array): void {
    // Frames are handled strictly in order, each after the previous one's async work.
    this.queue = this.queue.then(() => this.process(data)).catch((err) => {
      this.opts.log.warn("connection error", { error: String(err), device: this.device ? deviceJid(this.device) : undefined });
      this.close(1011, "protocol error");
    });
  }

  sendNode(n: BinaryNode): void {
    if (this.closed || !this.transport) return;
    this.socket.send(frame(this.transport.encrypt(encodeBinaryNode(n))));
  }

  close(code = 1000, reason = ""): void {
    if (this.closed) return;
    this.closed = true;
    this.pendingPair?.resolve(false);
    if (this.codeRequest && this.opts.state.codeLinks.get(this.codeRequest.phone) === this) this.opts.state.codeLinks.delete(this.codeRequest.phone);
    this.socket.close(code, reason);
    if (this.device && this.opts.state.online.get(deviceJid(this.device)) === this) this.opts.state.online.delete(deviceJid(this.device));
    this.opts.onClose(this);
  }

  /** Links the device that shows one of this connection's QR refs to `phone`; resolves when it confirmed. */
  async pair(phone: Phone, identityKey: Uint8Array, advSecret: Uint8Array): Promise<Device | null> {
    const deviceId = phone.nextDeviceId++;
    const offer = pairSuccess(phone, deviceId, identityKey, advSecret, newId("pair"));
    const ok = await new Promise<boolean>((resolve) => {
      this.pendingPair = { phone, deviceId, offer, resolve };
      this.sendNode(offer.stanza);
    });
    if (!ok) return null;
    const device: Device = {
      phone: phone.number,
      deviceId,
      noiseKey: this.noiseKey,
      identityKey,
      linkedAt: Date.now(),
      unlinked: false,
      historySent: false,
    };
    this.opts.state.addDevice(device);
    this.opts.log.info("device linked", { device: deviceJid(device) });
    // WhatsApp asks a freshly linked device to open a new stream, now with its credentials.
    this.sendNode(node("stream:error", { code: "515" }));
    setTimeout(() => this.close(1000, "restart required"), 50);
    return device;
  }

  /** The phone entered `code`: resolves with the linked device, or null for a wrong code. */
  async pairByCode(phone: Phone, code: string): Promise<Device | null> {
    const req = this.codeRequest;
    if (!req) return null;
    const hello = await phoneHello(req, code, phone.identity, newId("code"));
    const finish = new Promise<ReturnType<typeof readCompanionFinish>>((resolve) => {
      this.codeHello = { hello, identity: phone.identity, done: resolve };
      setTimeout(() => resolve(null), 5000);
    });
    this.sendNode(hello.notification);
    const result = await finish;
    this.codeHello = null;
    if (!result) return null;
    this.codeRequest = null;
    this.opts.state.codeLinks.delete(req.phone);
    return this.pair(phone, result.identityKey, result.advSecret);
  }

  private async process(data: Uint8Array): Promise<void> {
    if (this.closed) return;
    for (const f of this.reader.push(data)) {
      if (this.transport) await this.onNode(await decodeBinaryNode(this.transport.decrypt(f)));
      else this.onHandshake(f);
    }
  }

  private onHandshake(f: Buffer): void {
    const noise = this.noise!;
    const msg = proto.HandshakeMessage.decode(f);
    if (msg.clientHello?.ephemeral && !this.ephemeral) {
      const clientEphemeral = msg.clientHello.ephemeral;
      this.ephemeral = Curve.generateKeyPair();
      noise.mixHash(clientEphemeral);
      noise.mixHash(this.ephemeral.public);
      noise.mixKey(noise.dh(this.ephemeral.private, clientEphemeral));
      const staticEnc = noise.encrypt(this.opts.identity.staticKey.public);
      noise.mixKey(noise.dh(this.opts.identity.staticKey.private, clientEphemeral));
      const payloadEnc = noise.encrypt(this.opts.identity.certChain);
      const hello = proto.HandshakeMessage.encode({ serverHello: { ephemeral: this.ephemeral.public, static: staticEnc, payload: payloadEnc } }).finish();
      this.socket.send(frame(hello));
      return;
    }
    if (msg.clientFinish?.static && msg.clientFinish.payload && this.ephemeral) {
      const clientStatic = noise.decrypt(msg.clientFinish.static);
      noise.mixKey(noise.dh(this.ephemeral.private, clientStatic));
      const payload = proto.ClientPayload.decode(noise.decrypt(msg.clientFinish.payload));
      this.transport = noise.split();
      this.noise = null;
      this.noiseKey = clientStatic.toString("base64");
      this.onClientPayload(payload);
      return;
    }
    throw new Error("unexpected handshake message");
  }

  private onClientPayload(payload: proto.ClientPayload): void {
    const { state, log } = this.opts;
    if (payload.username) {
      const phone = String(payload.username);
      const device = state.device(phone, payload.device ?? 0);
      if (!device || device.unlinked || device.noiseKey !== this.noiseKey) {
        log.info("login refused", { phone, device: payload.device, reason: !device ? "unknown device" : device.unlinked ? "unlinked" : "wrong key" });
        this.sendNode(node("failure", { reason: "401", location: "emulator" }));
        setTimeout(() => this.close(1000, "logged out"), 50);
        return;
      }
      this.device = device;
      const p = state.phones.get(phone)!;
      log.info("device logged in", { device: deviceJid(device) });
      this.sendNode(
        node("success", {
          t: String(state.now()),
          props: "1",
          abprops: "1",
          location: "emulator",
          creation: String(Math.floor(device.linkedAt / 1000)),
          lid: `${p.lid}:${device.deviceId}@lid`,
        }),
      );
      // The same device still connected on another socket: as WhatsApp does, the older one is
      // told it was replaced (Baileys: connectionReplaced, 440) and closed; this login proceeds.
      const previous = state.online.get(deviceJid(device));
      if (previous && previous !== this && !previous.closed) {
        state.socketsReplaced++;
        log.info("connection replaced", { device: deviceJid(device) });
        previous.sendNode({ tag: "stream:error", attrs: {}, content: [{ tag: "conflict", attrs: { type: "replaced" } }] });
        if (previous instanceof Connection) setTimeout(() => previous.close(1000, "replaced"), 50);
      }
      state.online.set(deviceJid(device), this);
      void this.deliverOffline();
      return;
    }
    // A new companion: it proves its identity in the registration payload, then shows QRs.
    const reg = payload.devicePairingData;
    if (!reg?.eIdent) throw new Error("registration payload without identity");
    this.identityKey = Buffer.from(reg.eIdent);
    this.refs = Array.from({ length: this.opts.qrRefs }, () => `2@${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64")}`);
    this.opts.onRefs(this, this.refs);
    this.sendNode(node("iq", { id: newId("qr"), type: "set", from: S_WHATSAPP_NET, xmlns: "md" }, [node("pair-device", {}, this.refs.map((r) => node("ref", {}, r)))]));
  }

  private async onNode(n: BinaryNode): Promise<void> {
    const { log } = this.opts;
    log.debug("recv", { tag: n.tag, attrs: n.attrs });
    if (n.tag === "iq" && this.pendingPair && n.attrs.id === this.pendingPair.offer.stanza.attrs.id) {
      const pending = this.pendingPair;
      this.pendingPair = null;
      const ok = n.attrs.type === "result" && verifyPairReply(n, pending.offer, pending.phone, this.identityKey!);
      if (!ok) log.warn("device's pairing signature did not verify", { phone: pending.phone.number });
      pending.resolve(ok);
      return;
    }
    if (!this.device) {
      if (n.tag !== "iq" || n.attrs.type === "result" || n.attrs.type === "error") return;
      const hello = readCompanionHello(n);
      if (hello) {
        this.codeRequest = hello;
        this.opts.state.codeLinks.set(hello.phone, this);
        this.sendNode(node("iq", { id: n.attrs.id ?? "", type: "result", from: S_WHATSAPP_NET }, [
          node("link_code_companion_reg", {}, [node("link_code_pairing_ref", {}, Buffer.from(hello.ref))]),
        ]));
        return;
      }
      if (this.codeHello) {
        const finished = readCompanionFinish(n, this.codeHello.hello, this.codeHello.identity);
        if (finished) this.identityKey = finished.identityKey;
        this.sendNode(node("iq", { id: n.attrs.id ?? "", type: "result", from: S_WHATSAPP_NET }));
        this.codeHello.done(finished);
        return;
      }
      this.sendNode(node("iq", { id: n.attrs.id ?? "", type: "result", from: S_WHATSAPP_NET }));
      return;
    }
    switch (n.tag) {
      case "iq":
        return handleIq(n, {
          state: this.opts.state,
          device: this.device,
          log,
          send: (x) => {
            const delay = this.opts.state.latencyMs;
            if (delay > 0) setTimeout(() => this.sendNode(x), delay);
            else this.sendNode(x);
          },
          onPreKeys: () => this.sendHistory(),
          onLogout: () => setTimeout(() => this.close(1000, "logged out"), 50),
        });
      case "message":
        if (n.attrs.to?.endsWith("@g.us")) return onDeviceGroupMessage(this.opts.state, log, this.device, this, n);
        return onDeviceMessage(this.opts.state, log, this.device, this, n);
      case "receipt":
        this.sendNode(node("ack", { id: n.attrs.id ?? "", class: n.tag, from: S_WHATSAPP_NET, ...(n.attrs.type ? { type: n.attrs.type } : {}) }));
        return onDeviceReceipt(this.opts.state, log, this.device, n);
      case "notification":
        // The server acknowledges what a client sends, as WhatsApp does.
        this.sendNode(node("ack", { id: n.attrs.id ?? "", class: n.tag, from: S_WHATSAPP_NET, ...(n.attrs.type ? { type: n.attrs.type } : {}) }));
        return;
      case "ack":
        return onDeviceAck(this.opts.state, this.device, n);
      case "presence":
        return onDevicePresence(this.opts.state, log, this.device, this, n);
      case "chatstate":
        return onDeviceChatState(this.opts.state, log, this.device, n);
      default:
        return;
    }
  }

  /** What the server queued while the device was away, then the end-of-offline marker Baileys waits for. */
  private async deliverOffline(): Promise<void> {
    const count = await deliver(this.opts.state, this.device!, this.opts.log);
    this.sendNode(node("ib", {}, [node("offline", { count: String(count) })]));
  }

  /**
   * The phone sends a newly linked device its history, once, after the device's pre-keys are up;
   * with them, whatever contacts sent before goes out too. Resolves when the device has taken the
   * history (its receipts; at most a few seconds): Baileys opens only when its pre-key upload is
   * answered, and a send right after open races the decryption of history still under way (its
   * send transaction can overwrite the phone's fresh session), which real phones avoid by sending
   * history long after linking.
   */
  private async sendHistory(): Promise<void> {
    const { state, log } = this.opts;
    const device = this.device;
    if (!device || !device.bundle) return;
    const ids: string[] = [];
    if (!device.historySent) {
      device.historySent = true;
      const phone = state.phones.get(device.phone)!;
      const sender = party(state, phone.number);
      for (const message of historyMessages(phone.history)) {
        const id = newId("3EB0").replace(/\./g, "").toUpperCase();
        ids.push(id);
        enqueueMessage(state, device, { id, sender, message, attrs: { category: "peer" } });
      }
      log.info("history queued", { device: deviceJid(device), chats: phone.history.chats.length, contacts: phone.history.contacts.length });
    }
    await deliver(state, device, log);
    await settled(state, device, ids, 3000);
  }
}
