// A stored file as an HTTP answer: its type, length, name and ETag (the sha256 of its bytes), and
// one byte range when the client asks (206, or 416 for a range outside the file). Conditional
// requests by ETag answer 304.
import type { FileBody } from "../../media/store";
import type { StoredMedia } from "../../model/messages";

export function mediaResponse(
  request: Request,
  file: { media: StoredMedia; size: number },
  read: (start?: number, end?: number) => FileBody,
): Response {
  const { media, size } = file;
  const etag = `"${media.sha256}"`;
  const headers: Record<string, string> = {
    "content-type": media.mimetype,
    "accept-ranges": "bytes",
    etag,
    "cache-control": "private, max-age=86400",
    "content-disposition": disposition(media.fileName ?? `${media.sha256.slice(0, 16)}${extension(media.mimetype)}`, media.mimetype),
    // A sender chooses the type: never sniffed, never run as a page in the API's origin.
    "x-content-type-options": "nosniff",
    "content-security-policy": "sandbox; default-src 'none'",
  };
  if (request.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers });
  const range = request.headers.get("range");
  if (range === null || (request.headers.has("if-range") && request.headers.get("if-range") !== etag)) {
    return new Response(read(), { headers: { ...headers, "content-length": String(size) } });
  }
  const r = parseRange(range, size);
  if (!r) {
    return Response.json(
      { success: false, error: `The range "${range.slice(0, 64)}" is not within the file's ${size} bytes`, code: "RANGE_NOT_SATISFIABLE" },
      { status: 416, headers: { "content-range": `bytes */${size}` } },
    );
  }
  return new Response(read(r.start, r.end), {
    status: 206,
    headers: { ...headers, "content-length": String(r.end - r.start + 1), "content-range": `bytes ${r.start}-${r.end}/${size}` },
  });
}

/** One range of `bytes=a-b`, `bytes=a-` or `bytes=-n`, clamped to the file; null when none of it is in the file or it is not one range. */
export function parseRange(header: string, size: number): { start: number; end: number } | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "") || size === 0) return null;
  let start: number;
  let end: number;
  if (m[1] === "") {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start <= end && start < size ? { start, end } : null;
}

/** Pictures, video and sound are shown inline; anything else is a download. */
function disposition(name: string, mimetype: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  const inline = /^(image\/(jpeg|png|gif|webp)|video\/|audio\/)/.test(mimetype);
  return `${inline ? "inline" : "attachment"}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

const extensions: Record<string, string> = {
  "image/jpeg": ".jpg",
  "image/png": ".png",
  "image/webp": ".webp",
  "image/gif": ".gif",
  "video/mp4": ".mp4",
  "audio/ogg": ".ogg",
  "audio/mpeg": ".mp3",
  "audio/mp4": ".m4a",
  "application/pdf": ".pdf",
};

function extension(mimetype: string): string {
  return extensions[mimetype.split(";")[0]!.trim()] ?? "";
}
