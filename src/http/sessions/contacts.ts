// The account's contacts, as the sandbox synced them, and whether a number is on WhatsApp.
import { authErrors, CheckNumberParams, CheckNumberResponse, ContactsResponse, sandboxErrors } from "./models";
import { sessionsResource, type SessionsRoutesOptions } from "./resource";
import { contactView } from "./views";

export function contactsRoutes(opts: SessionsRoutesOptions) {
  const { sessions } = opts;
  return sessionsResource(opts, "contacts")
    .get(
      "/:id/check-number/:phone",
      async ({ session, params }) => {
        const result = await sessions.calls.checkNumber(session, params.phone);
        return { success: true as const, exists: result.exists, jid: result.jid };
      },
      {
        session: { body: false },
        params: CheckNumberParams,
        response: { 200: CheckNumberResponse, ...sandboxErrors, ...authErrors },
        detail: { summary: "Check number exists" },
      },
    )
    .get("/:id/contacts", async ({ session }) => ({ success: true as const, contacts: (await sessions.queries.contacts(session)).map(contactView) }), {
      session: { body: false },
      response: { 200: ContactsResponse, ...authErrors },
      detail: { summary: "Get all contacts" },
    });
}
