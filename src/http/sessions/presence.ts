// Presence: typing in a chat, the account's availability, and hearing a chat's presence
// (which comes as presence.update webhooks to those that list it). Nothing of it is stored.
import { authErrors, ChatParams, ChatPresenceBody, PresenceBody, sandboxErrors, SuccessResponse } from "./models";
import { sessionsResource, type SessionsRoutesOptions } from "./resource";

const errors = { ...sandboxErrors, ...authErrors };

export function presenceRoutes(opts: SessionsRoutesOptions) {
  const { sessions } = opts;
  return sessionsResource(opts, "presence")
    .post(
      "/:id/chats/:chatId/presence",
      async ({ session, params, body }) => {
        await sessions.conversations.presence(session, params.chatId, body.state);
        return { success: true as const };
      },
      {
        session: { body: true },
        params: ChatParams,
        body: ChatPresenceBody,
        response: { 200: SuccessResponse, ...errors },
        detail: { summary: "Show typing in a chat", description: "`composing`, `recording` or `paused`; anything else is 400 VALIDATION_ERROR." },
      },
    )
    .post(
      "/:id/chats/:chatId/presence/subscribe",
      async ({ session, params }) => {
        await sessions.conversations.subscribe(session, params.chatId);
        return { success: true as const };
      },
      {
        session: { body: false },
        params: ChatParams,
        response: { 200: SuccessResponse, ...errors },
        detail: {
          summary: "Hear a chat's presence",
          description:
            "The contact's presence and typing then come as `presence.update` webhooks, only to a webhook whose `webhookEvents` lists it (null, every event, leaves it out: it is chatty). Not stored.",
        },
      },
    )
    .post(
      "/:id/presence",
      async ({ session, body }) => {
        await sessions.conversations.presence(session, null, body.state);
        return { success: true as const };
      },
      {
        session: { body: true },
        body: PresenceBody,
        response: { 200: SuccessResponse, ...errors },
        detail: { summary: "Set the account's availability", description: "`available` or `unavailable`; anything else is 400 VALIDATION_ERROR." },
      },
    );
}
