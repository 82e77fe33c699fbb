// The phone's side of the initial history: a HistorySync with the phone's conversations
// (INITIAL_BOOTSTRAP) and one with push names (PUSH_NAME), each deflated inline into a
// history-sync notification, which the phone (a Signal party like any contact, contacts.ts)
// sends the new device through the server's outbox like any message (messages.ts).
import { proto } from "@whiskeysockets/baileys";
import { deflateSync } from "node:zlib";
import type { History } from "./state";

export function historyPayloads(history: History): proto.IHistorySync[] {
  const conversations = history.chats.map((c) => ({
    id: c.id,
    name: c.name ?? undefined,
    displayName: c.name ?? undefined,
    unreadCount: c.unreadCount ?? 0,
    conversationTimestamp: c.timestamp ?? undefined,
  }));
  // Named contacts without a chat still reach the device with their name, as a conversation
  // entry would carry it; chats come only from history.chats.
  const pushnames = history.contacts.filter((c) => c.notify).map((c) => ({ id: c.id, pushname: c.notify! }));
  return [
    { syncType: proto.HistorySync.HistorySyncType.INITIAL_BOOTSTRAP, conversations, chunkOrder: 1, progress: 100 },
    { syncType: proto.HistorySync.HistorySyncType.PUSH_NAME, pushnames, chunkOrder: 1, progress: 100 },
  ];
}

/** The phone's history as the Messages it sends a new device: history-sync notifications with inline payloads. */
export function historyMessages(history: History): proto.IMessage[] {
  return historyPayloads(history).map((payload) => ({
    protocolMessage: {
      type: proto.Message.ProtocolMessage.Type.HISTORY_SYNC_NOTIFICATION,
      historySyncNotification: {
        syncType: payload.syncType,
        initialHistBootstrapInlinePayload: deflateSync(proto.HistorySync.encode(payload).finish()),
        chunkOrder: 1,
        progress: 100,
      },
    },
  }));
}
