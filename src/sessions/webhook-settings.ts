// A session's webhook as its owner manages it: where it goes and which events, its secret
// (shown once, rotated on request), and what became of its deliveries.
import type { DeliveryRepository } from "../db/delivery-repository";
import { isWebhookEvent, webhookEvents, type WebhookEvent } from "../model/webhook-events";
import type { DeliveryRow, SessionRow } from "../db/schema";
import type { SessionRepository } from "../db/session-repository";
import { checkOutboundUrl } from "../net/address-guard";
import { newSecretSalt, type WebhookSecrets } from "../webhooks/secrets";
import { excerpt, SessionError, sessionErrors } from "./errors";

export interface WebhookSettingsDeps {
  repo: SessionRepository;
  deliveries: DeliveryRepository;
  secrets: WebhookSecrets;
  allowPrivate: boolean;
  /** A delivery was queued again: the dispatcher should look. */
  onRequeued?: (sessionId: string) => void;
}

export interface SessionPatch {
  webhookUrl?: string | null;
  /** null: every event, as when never set. */
  webhookEvents?: string[] | null;
  metadata?: Record<string, unknown>;
}

export class WebhookSettings {
  constructor(private readonly d: WebhookSettingsDeps) {}

  /** The URL if it is one we may send to (http(s), and not an internal address unless allowed). */
  async checkUrl(raw: string): Promise<string> {
    const checked = await checkOutboundUrl(raw, this.d.allowPrivate);
    if (!checked.ok) throw sessionErrors.invalidField("webhookUrl", checked.reason);
    return raw;
  }

  /** A new salt for a new session, and the secret it makes (shown to the creator once). */
  newSecret(sessionId: string): { salt: string; secret: string } {
    const salt = newSecretSalt();
    return { salt, secret: this.d.secrets.secretOf(sessionId, salt) };
  }

  async update(session: SessionRow, patch: SessionPatch): Promise<SessionRow> {
    const fields: Partial<Pick<SessionRow, "webhookUrl" | "webhookEvents" | "webhookDisabledReason" | "metadata">> = {};
    if (patch.webhookUrl !== undefined) {
      fields.webhookUrl = patch.webhookUrl === null ? null : await this.checkUrl(patch.webhookUrl);
      fields.webhookDisabledReason = null; // a URL set again is a receiver to try again
    }
    if (patch.webhookEvents === null) fields.webhookEvents = null;
    else if (patch.webhookEvents !== undefined) {
      const unknown = patch.webhookEvents.filter((e) => !isWebhookEvent(e));
      if (unknown.length > 0) {
        throw sessionErrors.invalidField("webhookEvents", `unknown event "${excerpt(unknown[0]!)}" (known: ${webhookEvents.join(", ")})`);
      }
      fields.webhookEvents = [...new Set(patch.webhookEvents as WebhookEvent[])];
    }
    if (patch.metadata !== undefined) fields.metadata = patch.metadata;
    const updated = (await this.d.repo.updateSettings(session.id, fields)) ?? session;
    if (fields.webhookUrl) await this.retryNow(session.id);
    return updated;
  }

  /**
   * A new secret, in force when it is answered: of rotations at once, one wins and the others
   * answer 409 CONFLICT (each would otherwise answer a secret that another had already replaced).
   */
  async rotateSecret(session: SessionRow): Promise<string> {
    const { salt, secret } = this.newSecret(session.id);
    if (!(await this.d.repo.rotateSalt(session.id, session.webhookSecretSalt, salt))) {
      throw new SessionError("CONFLICT", "The webhook secret was rotated by another request at the same time; rotate again if you need a new one");
    }
    await this.retryNow(session.id);
    return secret;
  }

  /** Deliveries waiting out a backoff go now: the receiver or the secret they failed with changed. */
  private async retryNow(sessionId: string): Promise<void> {
    if ((await this.d.deliveries.dueNow(sessionId)) > 0) this.d.onRequeued?.(sessionId);
  }

  deliveries(session: SessionRow, limit: number): Promise<DeliveryRow[]> {
    return this.d.deliveries.list(session.id, limit);
  }

  async retry(session: SessionRow, deliveryId: string): Promise<DeliveryRow> {
    const row = await this.d.deliveries.retry(session.id, deliveryId);
    if (!row) {
      const existing = await this.d.deliveries.byId(session.id, deliveryId);
      if (!existing) throw new SessionError("DELIVERY_NOT_FOUND", `No delivery with id "${deliveryId}" for this session`);
      throw new SessionError("INVALID_DELIVERY_STATE", `Only a dead delivery can be retried; this one is "${existing.status}"`, { status: existing.status });
    }
    this.d.onRequeued?.(session.id);
    return row;
  }
}
