// Messages: send one (a text or a file; idempotent with a key), read one with its current
// status, and stream a message's file (with Range).
import { t } from "elysia";
import { errors } from "../errors";
import { authErrors, EditBody, ErrorResponse, MessageParams, MessageResultResponse, ReactionBody, sandboxErrors, SendBody, SendForm, SuccessResponse } from "./models";
import { sessionsResource, type SessionsRoutesOptions } from "./resource";
import { removeRequestFile, requestFileOf } from "../request-file";
import { mediaResponse } from "./media-response";
import { messageView } from "./views";

export function messagesRoutes(opts: SessionsRoutesOptions) {
  const { sessions } = opts;
  return sessionsResource(opts, "messages")
    .post(
      "/:id/messages",
      async ({ session, body, request, set }) => {
        const key = request.headers.get("idempotency-key");
        if (key !== null && !/^[\x21-\x7e]{1,255}$/.test(key)) throw errors.validation("Idempotency-Key", "must be 1 to 255 printable characters");
        const file = requestFileOf(request);
        if (file && body.media) throw errors.validation("media", file.field === "file" ? "a form sends its file as the `file` part" : "takes one of data or url");
        try {
          const message = await sessions.messaging.send(session, file ? { ...body, media: { file } } : body, key);
          set.status = 201;
          return { success: true as const, message: messageView(session.id, message) };
        } finally {
          await removeRequestFile(request);
        }
      },
      {
        // A request's file is removed however the request ended (a refused field never reaches the handler).
        afterResponse: ({ request }) => removeRequestFile(request),
        session: { body: true, media: true },
        body: SendBody,
        headers: t.Object(
          { "idempotency-key": t.Optional(t.String({ description: "1 to 255 printable characters: the same key on this session within 24 hours answers the first message again" })) },
          { additionalProperties: true },
        ),
        response: { 201: MessageResultResponse, 413: ErrorResponse, 415: ErrorResponse, 422: ErrorResponse, ...authErrors },
        detail: {
          summary: "Send a message",
          "x-form": SendForm,
          description:
            "A text, or a file (image, video, audio, voice, document, sticker) as base64 (`media.data`), as a URL the API fetches (`media.url`), or as the `file` part of a multipart/form-data body with the other fields beside it. Stored as pending before the sandbox sends it; answers once WhatsApp's server took it (sent), or after SANDBOX_REQUEST_TIMEOUT_MS with the status it has then. In `disconnected` it is queued until the reconnect. An `Idempotency-Key` header answers the first message again for 24 hours. At most SEND_PER_MINUTE a minute. Files: 413 MEDIA_TOO_LARGE past MEDIA_MAX_BYTES, 422 MEDIA_TYPE_MISMATCH, MEDIA_FETCH_FAILED, MEDIA_CONVERSION_UNAVAILABLE. Also a location, contact cards (`contacts`, or a raw `vcard`) or a poll. To a group (`to` its jid): 404 GROUP_NOT_FOUND when the account is not in it, 403 NOT_ALLOWED_TO_SEND when only admins send and the account is not one; `mentions` names members a text or caption mentions.",
        },
      },
    )
    .post(
      "/:id/messages/:messageId/reactions",
      async ({ session, params, body }) => {
        await sessions.conversations.react(session, params.messageId, body.emoji);
        return { success: true as const };
      },
      {
        session: { body: true },
        params: MessageParams,
        body: ReactionBody,
        response: { 200: SuccessResponse, ...sandboxErrors, ...authErrors },
        detail: {
          summary: "React to a message",
          description: 'One emoji; `""` removes the account\'s reaction. The message shows it in `reactions` (from `"me"`). 400 for anything but one emoji.',
        },
      },
    )
    .patch(
      "/:id/messages/:messageId",
      async ({ session, params, body }) => {
        await sessions.conversations.edit(session, params.messageId, body.text);
        return { success: true as const };
      },
      {
        session: { body: true },
        params: MessageParams,
        body: EditBody,
        response: { 200: SuccessResponse, ...sandboxErrors, ...authErrors },
        detail: {
          summary: "Edit a message",
          description: "A text (or a caption) the account sent, within WhatsApp's 15 minutes: the stored message (GET it) shows the new text and `editedAt`. 409 MESSAGE_NOT_EDITABLE otherwise (not ours, too old, not text).",
        },
      },
    )
    .delete(
      "/:id/messages/:messageId",
      async ({ session, params }) => {
        await sessions.conversations.revoke(session, params.messageId);
        return { success: true as const };
      },
      {
        session: { body: false },
        params: MessageParams,
        response: { 200: SuccessResponse, ...sandboxErrors, ...authErrors },
        detail: {
          summary: "Delete a message for everyone",
          description:
            "A message the account sent, or, as a group's admin, anyone's in the group. The stored message keeps its id and shows `revoked: true` with its text, caption and file gone (the file deleted). 409 MESSAGE_NOT_REVOCABLE for another's message in a direct chat; 403 NOT_GROUP_ADMIN for another's in a group the account does not administer.",
        },
      },
    )
    .get("/:id/messages/:messageId", async ({ session, params }) => ({ success: true as const, message: messageView(session.id, await sessions.messaging.get(session, params.messageId)) }), {
      session: { body: false },
      params: MessageParams,
      response: { 200: MessageResultResponse, ...authErrors },
      detail: { summary: "Get a message", description: "One message with its current status." },
    })
    .post(
      "/:id/messages/:messageId/media/download",
      async ({ session, params }) => ({ success: true as const, message: messageView(session.id, await sessions.media.download(session, params.messageId)) }),
      {
        session: { body: false },
        params: MessageParams,
        response: { 200: MessageResultResponse, 413: ErrorResponse, ...authErrors },
        detail: {
          summary: "Download a message's file now",
          description:
            "For a file not downloaded yet (MEDIA_AUTO_DOWNLOAD=false), one that failed, or one removed by MEDIA_KEEP_DAYS: the session's sandbox downloads and decrypts it again (expired at WhatsApp, it asks the sender's phone to upload it again) and the API stores it. Answers the message once `media.state` is `stored` or `failed` (with its reason), or after SANDBOX_REQUEST_TIMEOUT_MS with `pending` (read the message again later). A stored file answers at once. 404 MEDIA_NOT_FOUND for a message without a file; 413 MEDIA_TOO_LARGE past MEDIA_MAX_BYTES; 409 unless the session is ready.",
        },
      },
    )
    .get(
      "/:id/messages/:messageId/media",
      async ({ session, params, request }) => {
        const file = await sessions.media.file(session, params.messageId);
        return mediaResponse(request, file, (start, end) => sessions.media.read(file.media.sha256, start, end)) as unknown as string;
      },
      {
        session: { body: false },
        params: MessageParams,
        response: { 200: t.String({ description: "The file's bytes" }), 206: t.String({ description: "The range asked for" }), 416: ErrorResponse, ...authErrors },
        detail: {
          summary: "Get a message's file",
          description:
            "Streams the bytes with Content-Type, Content-Length, Content-Disposition (the file name), ETag (the sha256) and Range support (206). 404 MEDIA_NOT_FOUND while the file is not stored.",
        },
      },
    );
}
