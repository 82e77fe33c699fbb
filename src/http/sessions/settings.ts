// What a session's owner manages: its webhook (URL, events, secret), what became of its
// deliveries, and its metadata.
import {
  authErrors,
  DeliveriesQuery,
  DeliveriesResponse,
  DeliveryParams,
  DeliveryResponse,
  ErrorResponse,
  SessionPatchBody,
  SessionSettingsResponse,
  WebhookSecretResponse,
} from "./models";
import { validateMetadata } from "./metadata";
import { sessionsResource, type SessionsRoutesOptions } from "./resource";
import { deliveryView, settingsView } from "./views";
import { webhookCallbacks } from "./webhook-events";

export function settingsRoutes(opts: SessionsRoutesOptions) {
  const { sessions } = opts;
  return sessionsResource(opts, "settings")
    .patch(
      "/:id",
      async ({ session, body }) => {
        validateMetadata(body.metadata);
        // Every field is checked before any is written: a refused one changes nothing.
        const { proxy, ...rest } = body;
        const route = proxy === undefined ? undefined : sessions.proxies.check(proxy);
        let updated = await sessions.webhooks.update(session, rest);
        if (route !== undefined) updated = await sessions.operations.setProxy(updated, route);
        return { success: true as const, session: settingsView(updated) };
      },
      {
        session: { body: true },
        body: SessionPatchBody,
        response: { 200: SessionSettingsResponse, 413: ErrorResponse, 415: ErrorResponse, ...authErrors },
        detail: {
          summary: "Change a session's webhook, metadata or proxy",
          callbacks: webhookCallbacks,
          description:
            "Sets the webhook URL (at most 2,048 characters; null removes it; setting it again re-enables a webhook disabled by a 410 and sends deliveries waiting out a backoff now), the events it receives, the metadata, and the proxy (null for none; a running sandbox restarts with the new route, no new QR; answered masked).",
        },
      },
    )
    .post("/:id/webhook/secret", async ({ session }) => ({ success: true as const, webhookSecret: await sessions.webhooks.rotateSecret(session) }), {
      session: { body: false },
      response: { 200: WebhookSecretResponse, ...authErrors },
      detail: {
        summary: "Rotate the webhook secret",
        description:
          "Answers the new secret once; deliveries from now on are signed with it, and those waiting out a backoff go now. Of rotations sent at the same time one wins; the others answer 409 CONFLICT.",
      },
    })
    .get(
      "/:id/webhook/deliveries",
      async ({ session, query }) => ({ success: true as const, deliveries: (await sessions.webhooks.deliveries(session, query.limit ?? 50)).map(deliveryView) }),
      {
        session: { body: false },
        query: DeliveriesQuery,
        response: { 200: DeliveriesResponse, ...authErrors },
        detail: { summary: "List webhook deliveries", description: "Newest first: pending, delivered, failed (retrying) or dead." },
      },
    )
    .post(
      "/:id/webhook/deliveries/:deliveryId/retry",
      async ({ session, params }) => ({ success: true as const, delivery: deliveryView(await sessions.webhooks.retry(session, params.deliveryId)) }),
      {
        session: { body: false },
        params: DeliveryParams,
        response: { 200: DeliveryResponse, ...authErrors },
        detail: { summary: "Send a dead delivery again", description: "Queues a dead delivery again with a fresh retry window." },
      },
    );
}
