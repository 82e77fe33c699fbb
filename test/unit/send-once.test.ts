// The sandbox's sendOnce: the API may ask again for a message whose first answer it stopped
// waiting for (its timeout, then a flush). Asked twice at once, the message leaves once and both
// askers get the server's ack; asked after it went, the ledger answers without sending.
import { expect, test } from "bun:test";
import { EventEmitter } from "node:events";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SentLedger, sendOnce } from "../../sandbox/messages-send";

/** Baileys' socket as far as sendOnce uses it: a lookup that takes a while, a send, the ws acks. */
function fakeSocket() {
  const ws = new EventEmitter();
  const sent: string[] = [];
  const options: any[] = [];
  const sock = {
    ws,
    onWhatsApp: async (jid: string) => {
      await Bun.sleep(30);
      return [{ jid, exists: true }];
    },
    sendMessage: async (_to: string, _content: unknown, opts: { messageId: string }) => {
      sent.push(opts.messageId);
      options.push(opts);
      setTimeout(() => ws.emit("CB:ack,class:message", { attrs: { id: opts.messageId, t: "1764000123" } }), 10);
    },
  };
  return { sock: sock as never, sent, options };
}

/** Text messages fetch no file. */
const noFiles = { base: "http://localhost/none", token: () => "" };

test("asked twice while the first send is under way, the message leaves once; both get its ack", async () => {
  const { sock, sent } = fakeSocket();
  const ledger = new SentLedger(join(mkdtempSync(join(tmpdir(), "ledger-")), "sent"));
  const m = { id: "3EB0AAAA", to: "4915112340002@s.whatsapp.net", type: "text" as const, text: "once", replyTo: null };
  const [a, b] = await Promise.all([sendOnce(sock, ledger, m, noFiles), sendOnce(sock, ledger, m, noFiles)]);
  expect(a).toEqual({ timestamp: 1764000123 });
  expect(b).toEqual(a);
  expect(sent).toEqual(["3EB0AAAA"]);
  // Later asks are answered from the ledger, without sending.
  expect(await sendOnce(sock, ledger, m, noFiles)).toEqual({ timestamp: expect.any(Number) });
  expect(sent).toEqual(["3EB0AAAA"]);
});

test("a reply quotes the replied-to message as the API knew it: whose it was, and its text", async () => {
  const { sock, options } = fakeSocket();
  const ledger = new SentLedger(join(mkdtempSync(join(tmpdir(), "ledger-")), "sent"));
  const to = "4915112340002@s.whatsapp.net";
  await sendOnce(sock, ledger, { id: "3EB0BBBB", to, type: "text", text: "It ships today", replyTo: "3EB0MINE", quoted: { fromMe: true, text: "Yes" } }, noFiles);
  await sendOnce(sock, ledger, { id: "3EB0CCCC", to, type: "text", text: "?", replyTo: "UNKNOWN1" }, noFiles);
  expect(options.map((o) => o.quoted)).toEqual([
    { key: { remoteJid: to, id: "3EB0MINE", fromMe: true }, message: { conversation: "Yes" } },
    { key: { remoteJid: to, id: "UNKNOWN1", fromMe: false }, message: { conversation: "" } },
  ]);
});
