// The account's chats: the list, a chat's messages page by page, and marking a chat read.
import { authErrors, ChatParams, ChatsResponse, MessagesQuery, MessagesResponse, ReadResponse, sandboxErrors } from "./models";
import { sessionsResource, type SessionsRoutesOptions } from "./resource";
import { chatView, messageView } from "./views";

export function chatsRoutes(opts: SessionsRoutesOptions) {
  const { sessions } = opts;
  return sessionsResource(opts, "chats")
    .get("/:id/chats", async ({ session }) => ({ success: true as const, chats: (await sessions.queries.chats(session)).map(chatView) }), {
      session: { body: false },
      response: { 200: ChatsResponse, ...authErrors },
      detail: { summary: "Get all chats" },
    })
    .get(
      "/:id/chats/:chatId/messages",
      async ({ session, params, query }) => {
        const page = await sessions.messaging.list(session, params.chatId, query.limit ?? 50, query.before);
        return { success: true as const, messages: page.messages.map((m) => messageView(session.id, m)), nextCursor: page.nextCursor };
      },
      {
        session: { body: false },
        params: ChatParams,
        query: MessagesQuery,
        response: { 200: MessagesResponse, ...authErrors },
        detail: { summary: "List a chat's messages", description: "Newest first, incoming and outgoing; `before` takes the `nextCursor` of the page before." },
      },
    )
    .post("/:id/chats/:chatId/read", async ({ session, params }) => ({ success: true as const, read: await sessions.messaging.markRead(session, params.chatId) }), {
      session: { body: false },
      params: ChatParams,
      response: { 200: ReadResponse, ...sandboxErrors, ...authErrors },
      detail: { summary: "Mark a chat read", description: "Sends read receipts for the chat's unread incoming messages and sets its unreadCount to 0." },
    });
}
