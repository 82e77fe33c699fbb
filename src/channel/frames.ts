// The channel's wire format, imported by both the API and the sandbox so they cannot drift.
// One JSON object per WebSocket text frame.

export const CHANNEL_AUDIENCE = "wa-sandbox-channel";
export const CHANNEL_ISSUER = "wa-session-api";
/** The sandbox connects to `${CHANNEL_PATH}/${sessionId}` with `Authorization: Bearer <jwt>`. */
export const CHANNEL_PATH = "/channel";

export interface ContactReport {
  id: string;
  name: string | null;
  notify: string | null;
  verifiedName: string | null;
  phone: string | null;
}

export interface ChatReport {
  id: string;
  name: string | null;
  isGroup: boolean;
  /** null when the report does not know it (a partial update): the stored count stays. */
  unreadCount: number | null;
  timestamp: number | null;
}

/** What a sandbox tells the API, each numbered so none is lost across a channel reconnect. */
export type Report =
  | { type: "qr"; qr: string }
  | { type: "connecting" }
  | { type: "ready"; phoneNumber: string; pushName: string | null }
  | { type: "disconnected"; reason: string }
  | { type: "logged_out"; reason: string }
  | { type: "failed"; reason: string }
  | { type: "contacts"; contacts: ContactReport[] }
  | { type: "chats"; chats: ChatReport[] };

export type SandboxRequest =
  | { type: "check-number"; phones: string[] }
  | { type: "logout" }
  | { type: "pairing-code"; phoneNumber: string };

export interface NumberCheck {
  phone: string;
  exists: boolean;
  jid: string | null;
}

export type SandboxResponse<R extends SandboxRequest> = R extends { type: "check-number" }
  ? { results: NumberCheck[] }
  : R extends { type: "pairing-code" }
    ? { code: string }
    : Record<string, never>;

/** Sandbox -> API frames. */
export type SandboxFrame =
  | { kind: "report"; seq: number; boot: string; report: Report }
  | { kind: "response"; id: string; ok: true; result: unknown }
  | { kind: "response"; id: string; ok: false; error: { code: string; message: string } };

/** API -> sandbox frames. */
export type ApiFrame =
  /** Everything up to and including `seq` of boot `boot` is stored; the sandbox may forget it. */
  | { kind: "ack"; boot: string; seq: number }
  | { kind: "request"; id: string; request: SandboxRequest }
  /** A fresh token before the current one expires; the sandbox uses it for its next connect. */
  | { kind: "token"; token: string };

export function parseFrame<T>(data: string | Buffer | ArrayBuffer | Uint8Array): T | null {
  try {
    const text = typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer);
    const value = JSON.parse(text);
    return value && typeof value === "object" && typeof value.kind === "string" ? (value as T) : null;
  } catch {
    return null;
  }
}
