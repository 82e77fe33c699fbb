// A media file's bytes between the API and a sandbox, over HTTP on the channel's own server (the
// WebSocket carries frames of at most 4 MiB; a file may be 64 MiB): `PUT /channel/<session>/media/<message>`
// streams an incoming message's decrypted file up, `GET` the same path streams a file to send
// down. The caller is authenticated and admitted as for the channel (hub.ts); this only moves bytes.
import type { Logger } from "../log";
import type { ReportSink } from "./report-sink";

const answer = (status: number, error: string, code: string) => Response.json({ success: false, error, code }, { status });

/** The message id of a media path (`/media/<id>` after the session's), or null for another path. */
export function mediaPathId(rest: string): string | null {
  const m = /^\/media\/([A-Za-z0-9_.:-]{1,128})$/.exec(rest);
  return m ? m[1]! : null;
}

export async function transferMedia(req: Request, who: { sessionId: string; launchId: string }, messageId: string, sink: ReportSink | undefined, log: Logger): Promise<Response> {
  const { sessionId, launchId } = who;
  if (req.method === "PUT") {
    if (!sink?.mediaIn || !req.body) return answer(400, "A file is expected", "VALIDATION_ERROR");
    const outcome = await sink.mediaIn(sessionId, launchId, messageId, req.body as unknown as AsyncIterable<Uint8Array>);
    if (outcome !== "stored") log.warn("media upload refused", { sessionId, messageId, outcome });
    switch (outcome) {
      case "stored":
        return new Response(null, { status: 204 });
      case "not-found":
        return answer(404, "No media message with this id (yet)", "MESSAGE_NOT_FOUND");
      case "too-large":
        return answer(413, "The file is larger than the message said or than MEDIA_MAX_BYTES", "MEDIA_TOO_LARGE");
      case "mismatch":
        return answer(422, "The file's sha256 is not the message's", "MEDIA_HASH_MISMATCH");
      case "refused":
        return answer(403, "This sandbox launch is not admitted", "CHANNEL_NOT_ADMITTED");
    }
  }
  if (req.method === "GET") {
    const file = sink?.mediaOut ? await sink.mediaOut(sessionId, launchId, messageId) : null;
    if (!file) return answer(404, "No file to send for this message", "MEDIA_NOT_FOUND");
    return new Response(file.bytes, { headers: { "content-type": file.mimetype, "content-length": String(file.size) } });
  }
  return answer(405, "GET or PUT", "METHOD_NOT_ALLOWED");
}
