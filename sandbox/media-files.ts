// Media files between WhatsApp and the API. Incoming: Baileys downloads and decrypts a message's
// file as a stream, which goes up to the API as it comes (PUT on the channel's media path); the
// API keeps it only if its sha256 is the one the message named. Outgoing: the file to send comes
// down from the API as a stream, which Baileys encrypts and uploads. No file is held whole.
import { downloadMediaMessage, type WAMessage } from "@whiskeysockets/baileys";
import { Readable } from "node:stream";
import { CHANNEL_PATH, type MediaInfo, type Report } from "../src/channel/frames";
import type { SandboxLog } from "./log";

/** Where the channel's media paths are, from the channel's own URL (a unix socket or TCP). */
export interface ApiFiles {
  /** `<base>/media/<messageId>` is a file's path. */
  base: string;
  unix?: string;
  token: () => string;
}

export function apiFiles(channelUrl: string, token: () => string): ApiFiles {
  const unix = /^ws\+unix:\/\/([^:]+):(\/.*)$/.exec(channelUrl);
  if (unix) return { base: `http://localhost${unix[2]}`, unix: unix[1], token };
  const url = new URL(channelUrl);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  if (!url.pathname.startsWith(CHANNEL_PATH)) throw new Error("not a channel URL");
  return { base: url.toString().replace(/\/$/, ""), token };
}

function request(files: ApiFiles, messageId: string, init: RequestInit): Promise<Response> {
  return fetch(`${files.base}/media/${encodeURIComponent(messageId)}`, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${files.token()}` },
    ...(files.unix ? { unix: files.unix } : {}),
  } as RequestInit);
}

/** The file of a message to send, as a stream from the API. */
export async function fileToSend(files: ApiFiles, messageId: string): Promise<Readable> {
  const res = await request(files, messageId, { method: "GET" });
  if (!res.ok || !res.body) throw Object.assign(new Error(`the API answered ${res.status} for the file`), { code: "MEDIA_UNAVAILABLE" });
  return Readable.fromWeb(res.body as never);
}

/** How long the sender's phone is given to upload an expired file again. */
const REUPLOAD_TIMEOUT_MS = 10_000;

/** Asks the sender's phone to upload an expired file again (Baileys' media retry), within a deadline. */
export type Reupload = (m: WAMessage) => Promise<WAMessage>;

export function withDeadline(reupload: Reupload): Reupload {
  return (m) =>
    Promise.race([
      reupload(m),
      Bun.sleep(REUPLOAD_TIMEOUT_MS).then(() => {
        throw new Error("the sender's phone did not upload the expired file again in time");
      }),
    ]);
}

/** Baileys' re-upload request (with its deadline) and the logger it reports it to. */
export type DownloadContext = NonNullable<Parameters<typeof downloadMediaMessage>[3]>;

/**
 * The decrypted file as a stream. Expired at WhatsApp (404 or 410), the sender's phone is asked
 * to upload it again and the download tried once more. Done here, not by Baileys' own retry: that
 * looks for `error.status`, while its fetch of the file throws a Boom with `output.statusCode`.
 */
async function download(m: WAMessage, ctx?: DownloadContext): Promise<Readable> {
  try {
    return (await downloadMediaMessage(m, "stream", {})) as Readable;
  } catch (err) {
    const status = (err as { output?: { statusCode?: number } }).output?.statusCode;
    if (!ctx || (status !== 404 && status !== 410)) throw err;
    ctx.logger.info({ id: m.key.id }, "media expired at WhatsApp: asking the sender to upload it again");
    let again: WAMessage;
    try {
      again = await ctx.reuploadRequest(m);
    } catch (reason) {
      throw new Error(`expired at WhatsApp (${status}), and ${reason instanceof Error ? reason.message : String(reason)}`);
    }
    return (await downloadMediaMessage(again, "stream", {})) as Readable;
  }
}

/** What became of a delivery: stored by the API, or why not. */
export type Delivery = { stored: true } | { stored: false; reason: string };

/**
 * Downloads, decrypts and hands an incoming message's file to the API; a failure becomes a
 * `media_failed` report. The message's own report goes first, so the API may not have stored it
 * yet: its 404 is tried again a few times. Expired at WhatsApp (404/410), the sender's phone is
 * asked to upload it again, as Baileys allows.
 */
export async function deliverIncomingFile(m: WAMessage, info: MediaInfo, files: ApiFiles, report: (r: Report) => void, log: SandboxLog, reupload?: DownloadContext): Promise<Delivery> {
  const id = m.key.id!;
  const failed = (reason: string): Delivery => {
    report({ type: "media_failed", id, reason });
    return { stored: false, reason };
  };
  for (let attempt = 0; attempt < 20; attempt++) {
    let stream: Readable;
    try {
      stream = await download(m, reupload);
    } catch (err) {
      log.warn("media download failed", { messageId: id, error: String(err).slice(0, 200) });
      return failed(`download failed: ${String(err instanceof Error ? err.message : err).slice(0, 200)}`);
    }
    const res = await request(files, id, {
      method: "PUT",
      headers: { "content-type": info.mimetype },
      body: Readable.toWeb(stream) as unknown as BodyInit,
      // A streamed body: Bun sends it chunked, as it comes.
    }).catch((err: unknown) => {
      log.warn("media upload to the API failed", { messageId: id, error: String(err).slice(0, 200) });
      return null;
    });
    stream.destroy();
    if (res?.status === 204) return { stored: true };
    // Not there yet (404), or the API failed or went away (5xx, no answer): again, later.
    if (res && res.status !== 404 && res.status < 500) {
      // The API checked the bytes and refused them (a wrong hash, too large): it marked the message failed.
      log.warn("media refused by the API", { messageId: id, status: res.status });
      return { stored: false, reason: `the API refused the file (${res.status})` };
    }
    await Bun.sleep(Math.min(250 * 2 ** attempt, 5000));
  }
  return failed("the API did not take the file");
}
