// The sessions routes of the API, one file per resource. Handlers only translate HTTP to the
// session domain and back; every rule lives in src/sessions.
import { Elysia } from "elysia";
import { chatsRoutes } from "./chats";
import { contactsRoutes } from "./contacts";
import { groupsRoutes } from "./groups";
import { presenceRoutes } from "./presence";
import { lifecycleRoutes } from "./lifecycle";
import { messagesRoutes } from "./messages";
import type { SessionsRoutesOptions } from "./resource";
import { settingsRoutes } from "./settings";
import { placementRoutes } from "./placement";

export type { SessionsRoutesOptions };

export function sessionsRoutes(opts: SessionsRoutesOptions) {
  return new Elysia({ name: "sessions" })
    .use(lifecycleRoutes(opts))
    .use(contactsRoutes(opts))
    .use(chatsRoutes(opts))
    .use(messagesRoutes(opts))
    .use(groupsRoutes(opts))
    .use(presenceRoutes(opts))
    .use(settingsRoutes(opts))
    .use(placementRoutes(opts));
}
