// A hostile sandbox for bench/report-flood.ts: it holds a valid channel token and sends small
// valid reports at a fixed rate for a while, reconnecting whenever the API cuts it off or
// refuses it, as an attacker would. Prints one JSON line: what it sent, what the API acked.
// Usage: bun bench/flood-sandbox.ts <channel socket> <session id> <token> <reports a second> <seconds> [small|big]
// small: one contact a report; big: 21 contacts with 3 KiB of names each (about 64 KiB a report),
// 470 a connection, then a new connection at once (the reconnect flood).
const [socket, sessionId, token, rateArg, secondsArg, sizeArg = "small"] = process.argv.slice(2);
const rate = Number(rateArg);
const big = sizeArg === "big";
const end = Date.now() + Number(secondsArg) * 1000;
let sent = 0;
let acked = 0;
let connections = 0;
let cutOff = 0;
let refused = 0;
let seq = 0;
const boot = crypto.randomUUID();

async function connection(): Promise<void> {
  const ws = new WebSocket(`ws+unix://${socket}:/channel/${sessionId}`, { headers: { authorization: `Bearer ${token}` } } as unknown as string[]);
  const opened = await new Promise<boolean>((resolve) => {
    ws.onopen = () => resolve(true);
    ws.onerror = () => resolve(false);
  });
  if (!opened) {
    refused++;
    return;
  }
  connections++;
  let closed = false;
  ws.onclose = (ev) => {
    closed = true;
    if (ev.code === 1008) cutOff++;
  };
  ws.onmessage = (ev) => {
    const frame = JSON.parse(String(ev.data));
    if (frame.kind === "ack") acked = Math.max(acked, frame.seq);
  };
  // Batches every 10 ms keep the rate without a timer per report.
  const perTick = Math.max(1, Math.round(rate / 100));
  let onThis = 0;
  while (!closed && Date.now() < end && !(big && onThis >= 470)) {
    for (let i = 0; i < perTick; i++) {
      seq++;
      onThis++;
      ws.send(JSON.stringify({ kind: "report", seq, boot, report: { type: "contacts", contacts: big ? bigContacts(seq) : [smallContact(seq)] } }));
      sent++;
    }
    await Bun.sleep(10);
  }
  if (!closed) ws.close();
}

function smallContact(seq: number) {
  return { id: `${1000000 + (seq % 50000)}@s.whatsapp.net`, name: `n${seq}`, notify: null, verifiedName: null, phone: null };
}

function bigContacts(seq: number) {
  const n = "n".repeat(1024);
  return Array.from({ length: 21 }, (_, i) => ({ id: `${1000000 + ((seq * 21 + i) % 50000)}@s.whatsapp.net`, name: n, notify: n, verifiedName: n, phone: null }));
}

while (Date.now() < end) {
  await connection();
  if (!big) await Bun.sleep(500);
}
console.log(JSON.stringify({ sent, acked, connections, cutOff, refused }));
export {};
