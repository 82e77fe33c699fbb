// One HTTP/1.1 exchange over a raw TCP socket to 127.0.0.1, for requests fetch will not send
// as they are (a Content-Length far past the body limit, odd methods, huge headers). The body
// is streamed as the socket drains, and sending stops once the server has answered.
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The bytes as they came, or "" when the server closed the connection without a word. */
  raw: string;
}

export async function rawRequest(port: number, head: string, bodyBytes = 0, timeoutMs = 10_000): Promise<RawAnswer> {
  const received: Uint8Array[] = [];
  let sent = 0;
  let answered = false;
  const text = () => new TextDecoder().decode(Buffer.concat(received));
  const complete = () => {
    const t = text();
    const end = t.indexOf("\r\n\r\n");
    if (end < 0) return false;
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(t.slice(0, end));
    return Buffer.byteLength(t.slice(end + 4)) >= Number(length?.[1] ?? 0);
  };
  await new Promise<void>((resolve, reject) => {
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    const pump = (s: { write(d: Uint8Array): number }) => {
      while (sent < bodyBytes && !answered) {
        const n = s.write(chunk.subarray(0, Math.min(chunk.length, bodyBytes - sent)));
        if (n <= 0) return;
        sent += n;
      }
    };
    const timer = setTimeout(() => reject(new Error(`no complete answer within ${timeoutMs} ms: ${JSON.stringify(text().slice(0, 200))}`)), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.write(head);
          pump(s);
        },
        drain: pump,
        data(s, d) {
          received.push(new Uint8Array(d));
          if (complete()) {
            answered = true;
            s.end();
            done();
          }
        },
        close: done,
        error: done,
      },
    }).catch(reject);
  });
  const raw = text();
  const end = raw.indexOf("\r\n\r\n");
  const [statusLine = "", ...lines] = (end < 0 ? raw : raw.slice(0, end)).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(statusLine.split(" ")[1] ?? 0), headers, body: end < 0 ? "" : raw.slice(end + 4), raw };
}
