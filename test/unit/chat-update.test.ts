// The sandbox's reading of Baileys' `chats.update`: the updates it derives from each message add
// nothing to the message reports, and an unread count there is "one more", not a total.
import { expect, test } from "bun:test";
import { chatUpdate } from "../../sandbox/messages-recv";

const id = "4915112360002@s.whatsapp.net";
const withMessage = (message: object) => ({ message: { key: { remoteJid: id, id: "3EB0AA", fromMe: false }, messageTimestamp: 1_796_300_000, message } });

test("the update Baileys derives from a text message is left to the message report", () => {
  expect(chatUpdate({ id, messages: [withMessage({ conversation: "hi" })], conversationTimestamp: 1_796_300_000, unreadCount: 1 })).toBeNull();
  expect(chatUpdate({ id, messages: [withMessage({ extendedTextMessage: { text: "hi" } })], conversationTimestamp: 1_796_300_000 })).toBeNull();
});

test("one from a message not carried as a message report moves the chat's time, never sets its count", () => {
  const update = chatUpdate({ id, messages: [withMessage({ imageMessage: { caption: "x" } })], conversationTimestamp: 1_796_300_000, unreadCount: 1 });
  expect(update).toEqual({ id, name: null, isGroup: false, unreadCount: null, timestamp: 1_796_300_000 });
});

test("read elsewhere is a count of 0; marked unread (-1) and other changes leave the count alone", () => {
  expect(chatUpdate({ id, unreadCount: 0 })?.unreadCount).toBe(0);
  expect(chatUpdate({ id, unreadCount: -1 })?.unreadCount).toBeNull();
  expect(chatUpdate({ id, name: "Ann", unreadCount: 2 })).toEqual({ id, name: "Ann", isGroup: false, unreadCount: null, timestamp: null });
});
