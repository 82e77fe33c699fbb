// Where a send's file comes from: base64 in the JSON body, a URL the API fetches on the client's
// behalf (through the address guard, redirects judged again, stopped at MEDIA_MAX_BYTES), or a
// form's file part already on disk. Each is opened as a stream of bytes for the media store.
import { createReadStream } from "node:fs";
import { checkOutboundUrl } from "../net/address-guard";
import { FetchFailed, FetchRefused, fetchPinned } from "../net/fetch-pinned";
import { SessionError, sessionErrors } from "./errors";

/** A form's file part, or a JSON body's base64 decoded as it came, on disk (the HTTP layer's RequestFile). */
export interface UploadedFile {
  path: string;
  size: number;
  sha256: string;
  contentType: string | null;
  fileName: string | null;
  /** The field a refusal names: `file` (a form) or `media.data`. */
  field: string;
}

export type MediaInput = { data: string } | { url: string } | { file: UploadedFile };

export interface OpenedSource {
  bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** A whole file already on disk and hashed, which the store can take in without a copy. */
  onDisk?: { path: string; sha256: string; size: number };
  /** The field a refusal of these bytes names. */
  field: string;
  /** What the server or the form part said the type is. */
  servedAs?: string;
  /** A document's name when the client gave none: the URL's last segment, the part's file name. */
  fileName?: string;
  close(): void;
}

export interface MediaSourcesDeps {
  allowPrivate: boolean;
  timeoutMs: number;
  maxBytes: number;
}

export const MAX_REDIRECTS = 3;

export class MediaSources {
  constructor(private readonly d: MediaSourcesDeps) {}

  /** A URL the guard refuses is a 400 before anything else happens (no request is made). */
  async check(media: MediaInput): Promise<void> {
    if (!("url" in media)) return;
    const checked = await checkOutboundUrl(media.url, this.d.allowPrivate);
    if (!checked.ok) throw sessionErrors.invalidField("media.url", checked.reason);
  }

  async open(media: MediaInput): Promise<OpenedSource> {
    if ("data" in media) return { bytes: [Buffer.from(media.data, "base64")], field: "media.data", close() {} };
    if ("file" in media) {
      const path = media.file.path;
      return {
        // Opened only if read: a file the store takes in whole is moved away first.
        bytes: (async function* () {
          yield* createReadStream(path);
        })(),
        onDisk: { path: media.file.path, sha256: media.file.sha256, size: media.file.size },
        field: media.file.field,
        ...(media.file.contentType ? { servedAs: media.file.contentType } : {}),
        ...(media.file.fileName ? { fileName: media.file.fileName } : {}),
        close() {},
      };
    }
    return this.fetch(media.url);
  }

  /** The URL was judged by `check` already (Messaging.send); each hop is judged again as it connects. */
  private async fetch(raw: string): Promise<OpenedSource> {
    let fetched;
    try {
      fetched = await fetchPinned(new URL(raw), { allowPrivate: this.d.allowPrivate, timeoutMs: this.d.timeoutMs, maxRedirects: MAX_REDIRECTS });
    } catch (err) {
      throw this.failure(err);
    }
    if (fetched.contentLength !== null && fetched.contentLength > this.d.maxBytes) {
      fetched.abort(); // announced too large: not read at all
      throw sessionErrors.mediaTooLarge(this.d.maxBytes);
    }
    const name = decodeSegment(fetched.url.pathname.split("/").at(-1) ?? "");
    const failure = (err: unknown) => this.failure(err);
    return {
      bytes: (async function* () {
        try {
          yield* fetched.body;
        } catch (err) {
          throw failure(err);
        }
      })(),
      field: "media.url",
      ...(fetched.contentType ? { servedAs: fetched.contentType.split(";")[0]!.trim().toLowerCase() } : {}),
      ...(name ? { fileName: name } : {}),
      close: () => fetched.abort(),
    };
  }

  private failure(err: unknown): Error {
    if (err instanceof FetchRefused) return sessionErrors.invalidField("media.url", err.reason);
    if (err instanceof FetchFailed) return new SessionError("MEDIA_FETCH_FAILED", `The media URL could not be fetched: ${err.message}`);
    return err as Error;
  }
}

/** A URL's last path segment as a file name, or "" when it is none (empty, undecodable, or a path trick). */
function decodeSegment(segment: string): string {
  let name: string;
  try {
    name = decodeURIComponent(segment);
  } catch {
    return "";
  }
  return /^[^\u0000-\u001f/\\]{1,255}$/.test(name) && name !== "." && name !== ".." ? name : "";
}
