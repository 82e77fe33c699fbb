// Messages end to end: REST, rootless Podman, the sandbox image, and the emulator whose
// contacts are real Signal parties (they decrypt what the session sends and encrypt what they
// send it). Webhooks go to a real receiver on loopback.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { containerName } from "../../src/runtime/podman-runtime";
import { killContainer } from "../../src/runtime/podman/containers";
import { PodmanClient } from "../../src/runtime/podman/client";
import type { RunningEmulator } from "../emulator";
import { startTestApi, type TestApi } from "../support/api";
import { emulatorControl, startEmulatorForContainers } from "../support/emulator";
import { requireEnv, waitFor } from "../support/env";
import { WebhookReceiver } from "../support/webhook-receiver";

const PHONE = "4915112360001";
const CONTACT = "4915112360002";
const STRANGER = "4915112369999";
/** Written to only once, so the sandbox has not looked the number up yet. */
const NEWCOMER = "4915112360003";
const CONTACT_JID = `${CONTACT}@s.whatsapp.net`;

describe("sending and receiving messages", () => {
  let emu: RunningEmulator;
  let control: ReturnType<typeof emulatorControl>;
  let t: TestApi;
  const receiver = new WebhookReceiver();
  let id = "";
  let key = "";

  const received = async (phone = CONTACT) => (await control("GET", `/control/phones/${phone}/received`)).body.messages as { id: string; from: string; text: string }[];
  const message = async (mid: string) => (await t.call("GET", `/sessions/${id}/messages/${mid}`, { key })).body.message;
  const send = (body: unknown, headers: Record<string, string> = {}) => t.call("POST", `/sessions/${id}/messages`, { key, body, headers });
  const waitReady = () => waitFor(async () => (await t.call("GET", `/sessions/${id}/status`, { key })).body.session?.state === "ready", 60_000, "ready");

  beforeAll(async () => {
    receiver.start();
    emu = await startEmulatorForContainers();
    control = emulatorControl(emu);
    await control("POST", "/control/numbers", { add: [CONTACT, NEWCOMER] });
    t = await startTestApi(
      "postgres",
      { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, SANDBOX_REQUEST_TIMEOUT_MS: "5000", SEND_PER_MINUTE: "12", CHANNEL_GRACE_SECONDS: "5" },
      { process: true },
    );
    const created = await t.call("POST", "/sessions/create", { body: { name: "messenger", webhookUrl: receiver.url } });
    id = created.body.session.id;
    key = created.body.apiKey;
    await waitFor(async () => (await t.call("GET", `/sessions/${id}/status`, { key })).body.session.state === "qr_ready", 30_000, "qr_ready");
    const qr = (await t.call("GET", `/sessions/${id}/qr`, { key })).body.qr;
    expect((await control("POST", "/control/scan", { qr, phoneNumber: PHONE })).status).toBe(200);
    await waitReady();
  });
  afterAll(async () => {
    await t?.close();
    await emu?.stop();
    receiver.stop();
  });

  test("a sent text reaches the contact decrypted, then is sent, delivered and read", async () => {
    const res = await send({ to: CONTACT, text: "Hello from the API ✓" });
    expect(res.status).toBe(201);
    expect(res.body.message).toMatchObject({ chatId: CONTACT_JID, fromMe: true, text: "Hello from the API ✓", type: "text" });
    expect(["sent", "delivered"]).toContain(res.body.message.status);
    const mid = res.body.message.id;
    const got = await waitFor(async () => (await received()).find((m) => m.id === mid), 10_000, "the contact to receive it");
    expect(got).toMatchObject({ from: PHONE, text: "Hello from the API ✓" });
    await waitFor(async () => (await message(mid)).status === "delivered", 10_000, "delivered");
    expect((await control("POST", "/control/read", { by: CONTACT, to: PHONE, ids: [mid] })).status).toBe(200);
    await waitFor(async () => (await message(mid)).status === "read", 10_000, "read");
    const statuses = () => receiver.of(id).filter((r) => r.json.event === "message.status" && r.json.data.id === mid).map((r) => r.json.data.status);
    await waitFor(() => statuses().includes("read"), 10_000, "message.status webhooks");
    // In order, each once; `sent` may be skipped when the receipt overtakes the server's ack.
    const order = ["sent", "delivered", "read"];
    expect(statuses().map((x) => order.indexOf(x))).toEqual([...new Set(statuses().map((x) => order.indexOf(x)))].sort());
    expect(statuses().slice(-2)).toEqual(["delivered", "read"]);
  });

  test("an incoming text is stored, updates its chat, raises a webhook, and can be replied to and read", async () => {
    const { body } = await control("POST", "/control/messages", { from: CONTACT, to: PHONE, text: "Hi! Is my order ready?" });
    const incoming = await waitFor(async () => {
      const r = await t.call("GET", `/sessions/${id}/chats/${CONTACT}/messages`, { key });
      return r.body.messages.find((m: any) => m.id === body.id);
    }, 10_000, "the incoming message");
    expect(incoming).toMatchObject({ chatId: CONTACT_JID, fromMe: false, text: "Hi! Is my order ready?", type: "text" });
    const chat = (await t.call("GET", `/sessions/${id}/chats`, { key })).body.chats.find((c: any) => c.id === CONTACT_JID);
    expect(chat.unreadCount).toBeGreaterThanOrEqual(1);
    const hook = await waitFor(() => receiver.of(id).find((r) => r.json.event === "message.received" && r.json.data.id === body.id), 10_000, "message.received");
    // The webhook carries the message as the API shows it, status included.
    expect(hook.json.data).toEqual(incoming);
    expect(incoming.status).toBe("delivered");

    const reply = await send({ to: CONTACT_JID, text: "Yes, it ships today.", replyTo: body.id });
    expect(reply.status).toBe(201);
    expect(reply.body.message.replyTo).toBe(body.id);
    await waitFor(async () => (await received()).some((m) => m.id === reply.body.message.id && m.text === "Yes, it ships today."), 10_000, "the reply");

    const read = await t.call("POST", `/sessions/${id}/chats/${CONTACT}/read`, { key });
    expect(read.body).toMatchObject({ success: true });
    expect(read.body.read).toBeGreaterThanOrEqual(1);
    expect((await t.call("GET", `/sessions/${id}/chats`, { key })).body.chats.find((c: any) => c.id === CONTACT_JID).unreadCount).toBe(0);
  });

  test("three incoming texts make three unread in the chat, at the last one's time", async () => {
    const chatOf = async () => (await t.call("GET", `/sessions/${id}/chats`, { key })).body.chats.find((c: any) => c.id === CONTACT_JID);
    expect((await t.call("POST", `/sessions/${id}/chats/${CONTACT}/read`, { key })).status).toBe(200);
    expect((await chatOf()).unreadCount).toBe(0);
    const ids: string[] = [];
    for (const text of ["one?", "two?", "three?"]) ids.push((await control("POST", "/control/messages", { from: CONTACT, to: PHONE, text })).body.id);
    await waitFor(() => ids.every((mid) => receiver.of(id).some((r) => r.json.event === "message.received" && r.json.data.id === mid)), 10_000, "three message.received");
    // Whatever else the sandbox reports about the chat has come by now.
    await Bun.sleep(1000);
    const last = (await message(ids[2]!)) as { timestamp: number };
    expect(await chatOf()).toMatchObject({ unreadCount: 3, timestamp: last.timestamp });
  });

  test("the same Idempotency-Key sends once; a stranger's number is 422", async () => {
    const first = await send({ to: CONTACT, text: "only once" }, { "idempotency-key": "idem-1" });
    const again = await send({ to: CONTACT, text: "only once" }, { "idempotency-key": "idem-1" });
    expect(again.body.message.id).toBe(first.body.message.id);
    await Bun.sleep(500);
    expect((await received()).filter((m) => m.text === "only once")).toHaveLength(1);
    const stranger = await send({ to: STRANGER, text: "hello?" });
    expect(stranger.status).toBe(422);
    expect(stranger.body.code).toBe("NOT_ON_WHATSAPP");
  });

  test("the API killed right after a send and started again: the message went once", async () => {
    const res = await send({ to: CONTACT, text: "before the crash" });
    expect(res.status).toBe(201);
    await t.stopApi(); // SIGKILL
    await t.restartApi();
    await waitReady();
    await waitFor(async () => (await received()).some((m) => m.id === res.body.message.id), 10_000, "the message");
    await Bun.sleep(1000);
    expect((await received()).filter((m) => m.id === res.body.message.id)).toHaveLength(1);
    expect(["sent", "delivered", "read"]).toContain((await message(res.body.message.id)).status);
  });

  test("a message whose sandbox is killed while sending is not lost: it goes out once the session is started again", async () => {
    // WhatsApp answers the number's lookup slowly, so the send is still in the sandbox when its
    // container dies (before it was handed to WhatsApp).
    await control("POST", "/control/latency", { ms: 3000 });
    const sending = send({ to: NEWCOMER, text: "while you were away" });
    await Bun.sleep(1000);
    await killContainer(new PodmanClient(requireEnv("PODMAN_SOCKET")), containerName(id), { signal: "SIGKILL" });
    const queued = await sending;
    expect(queued.status).toBe(201);
    expect(queued.body.message.status).toBe("pending");
    await control("POST", "/control/latency", { ms: 0 });
    // A container killed from outside stays down (Podman restarts only on its own failures).
    await waitFor(async () => (await t.call("GET", `/sessions/${id}/status`, { key })).body.session.state === "failed", 15_000, "failed");
    expect((await t.call("POST", `/sessions/${id}/start`, { key })).status).toBe(200);
    await waitReady();
    await waitFor(async () => (await received(NEWCOMER)).some((m) => m.id === queued.body.message.id), 20_000, "the queued message after the start");
    await Bun.sleep(500);
    expect((await received(NEWCOMER)).filter((m) => m.id === queued.body.message.id)).toHaveLength(1);
    expect(["sent", "delivered", "read"]).toContain((await message(queued.body.message.id)).status);
  });

  test("past SEND_PER_MINUTE: 429", async () => {
    const codes: number[] = [];
    for (let i = 0; i < 13; i++) codes.push((await send({ to: CONTACT, text: `bulk ${i}` })).status);
    expect(codes).toContain(429);
    expect((await send({ to: CONTACT, text: "one more" })).body.code).toBe("RATE_LIMITED");
  });
});
