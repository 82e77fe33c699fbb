// Reading the control API's input: JSON bodies, phone numbers, the directory's contacts, phones,
// media. A mistake throws ControlError, which control.ts answers as 4xx {error, code}.
import { MEDIA_KINDS, type MediaKind } from "./media";
import type { EmulatorState } from "./state";

const digits = /^\d{6,15}$/;

export class ControlError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const fail = (status: number, code: string, message: string): never => {
  throw new ControlError(status, code, message);
};

export async function body(req: Request): Promise<Record<string, unknown>> {
  try {
    const value = await req.json();
    if (value && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {}
  return fail(400, "INVALID_JSON", "body must be a JSON object");
}

export function phoneNumber(value: unknown, field = "phoneNumber"): string {
  const n = typeof value === "string" ? value.replace(/^\+/, "") : "";
  if (!digits.test(n)) fail(400, "INVALID_PHONE_NUMBER", `${field} must be 6 to 15 digits`);
  return n;
}

export function numbers(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail(400, "INVALID_FIELD", `${field} must be an array of phone numbers`);
  return (value as unknown[]).map((v) => phoneNumber(v, field));
}

/** A directory number, the only kind of number that writes to accounts here. */
export function contact(state: EmulatorState, value: unknown, field: string): string {
  const n = phoneNumber(value, field);
  if (!state.directory.has(n)) fail(404, "NOT_ON_WHATSAPP", `${field} ${n} is not in the directory (add it with /control/numbers)`);
  return n;
}

/** A phone (an account with linked devices, or once had them). */
export function account(state: EmulatorState, value: unknown, field: string): string {
  const n = phoneNumber(value, field);
  if (!state.phones.has(n)) fail(404, "UNKNOWN_PHONE", `${field} ${n} is no phone known to the emulator (link a device to it first)`);
  return n;
}


export const MAX_MEDIA = 64 * 1024 * 1024;

/** The media part of a `/control/messages` body: `{type, media: {data, mimetype, fileName?}, caption?}`. */
export function mediaInput(b: Record<string, unknown>): { kind: MediaKind; file: { data: Buffer; mimetype: string; fileName?: string }; caption?: string } {
  const kind = b.type as MediaKind;
  if (!MEDIA_KINDS.includes(kind)) fail(400, "INVALID_TYPE", `type must be one of ${MEDIA_KINDS.join(", ")} for a media message`);
  if (b.text !== undefined) fail(400, "INVALID_FIELD", "a media message takes a caption, not a text");
  const media = b.media as Record<string, unknown> | undefined;
  if (!media || typeof media !== "object" || Array.isArray(media)) fail(400, "INVALID_MEDIA", "media must be an object {data, mimetype, fileName?}");
  const raw = typeof media!.data === "string" ? media!.data.replace(/^data:[^,]*;base64,/, "").replace(/\s+/g, "") : "";
  if (!raw || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(raw)) fail(400, "INVALID_MEDIA", "media.data must be the file in base64");
  const data = Buffer.from(raw, "base64");
  if (data.length === 0) fail(400, "INVALID_MEDIA", "media.data must not be empty");
  if (data.length > MAX_MEDIA) fail(413, "MEDIA_TOO_LARGE", `media.data must be at most ${MAX_MEDIA} bytes`);
  const mimetype = media!.mimetype;
  if (typeof mimetype !== "string" || mimetype.length > 255 || !/^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/.test(mimetype)) fail(400, "INVALID_MEDIA", "media.mimetype must be a MIME type such as image/jpeg");
  const fileName = media!.fileName;
  if (fileName !== undefined && (typeof fileName !== "string" || fileName.length === 0 || fileName.length > 255)) fail(400, "INVALID_MEDIA", "media.fileName must be a string of 1 to 255 characters");
  const caption = b.caption;
  if (caption !== undefined && (typeof caption !== "string" || caption.length > 65536)) fail(400, "INVALID_FIELD", "caption must be a string of at most 65536 characters");
  return {
    kind,
    file: { data, mimetype: mimetype as string, fileName: fileName as string | undefined },
    // WhatsApp has captions on images, videos and documents only.
    caption: ["image", "video", "document"].includes(kind) && caption ? (caption as string) : undefined,
  };
}
