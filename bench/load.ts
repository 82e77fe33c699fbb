// Load generator, run as its own process: N keep-alive connections issue GET requests for a
// fixed time, then one JSON line with requests/second and latency percentiles is printed.
// Usage: bun bench/load.ts <url> <seconds> <connections> [X-API-Key]
const [url, secondsArg, connectionsArg, key] = process.argv.slice(2);
if (!url) throw new Error("usage: bun bench/load.ts <url> <seconds> <connections> [key]");
const seconds = Number(secondsArg ?? 5);
const connections = Number(connectionsArg ?? 16);
const headers: Record<string, string> = key ? { "x-api-key": key } : {};

const latencies: number[] = [];
let errors = 0;
const warmupEnd = performance.now() + 500;
const end = warmupEnd + seconds * 1000;

async function worker(): Promise<void> {
  while (performance.now() < end) {
    const t0 = performance.now();
    const res = await fetch(url!, { headers, keepalive: true });
    await res.arrayBuffer();
    const t1 = performance.now();
    if (!res.ok) errors++;
    if (t0 >= warmupEnd) latencies.push(t1 - t0);
  }
}

await Promise.all(Array.from({ length: connections }, worker));
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
console.log(JSON.stringify({ requests: latencies.length, errors, rps: latencies.length / seconds, p50: pct(50), p99: pct(99) }));
export {};
