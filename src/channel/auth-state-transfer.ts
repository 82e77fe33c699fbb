// `GET /channel/<session>/auth-state`: the session's mirrored auth state, for a sandbox that
// starts on a node with no copy of it (the session moved). Authenticated and admitted as the
// channel is (hub.ts); JSON `{ entries: [[name, value], …] }`, values as the sandbox wrote them.
import type { ReportSink } from "./report-sink";

export const AUTH_STATE_PATH = "/auth-state";

export async function sendAuthState(req: Request, who: { sessionId: string; launchId: string }, sink: ReportSink | undefined): Promise<Response> {
  if (req.method !== "GET") return Response.json({ success: false, error: "GET only", code: "METHOD_NOT_ALLOWED" }, { status: 405 });
  const entries = sink?.authState ? await sink.authState(who.sessionId, who.launchId) : null;
  if (!entries) return Response.json({ success: false, error: "No auth state for this launch", code: "CHANNEL_NOT_ADMITTED" }, { status: 403 });
  return Response.json({ entries });
}
