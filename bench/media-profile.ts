// Where the time of one media send goes, stage by stage, on the whole stack (the API process on
// PostgreSQL, rootless Podman, the sandbox image, the emulator's contact and media server), for
// the send's three bodies: JSON base64, multipart/form-data, and a media.url the API fetches
// from a loopback Bun.serve in this process.
//
// Nothing in src/ or sandbox/ is touched; the stages are read from outside, on one clock:
// - a Worker (bench/media-timeline.ts) polls every 5 ms: the API's multipart temporary file
//   (<tmpdir>/wa-upload-*/upload), the media store's temporary file (DATA_DIR/media/tmp/*: it
//   appears once the body is in hand (JSON: read, parsed, decoded) and is renamed once hashed and
//   whole), the API's child processes (ffprobe, ffmpeg), the sandbox's Baileys temporary file
//   (/proc/<sandbox>/root/data/tmp/*-enc: it appears once the sandbox's GET of the file from the
//   API answered and grows as Baileys encrypts what it reads), the CPU ticks of the API, the
//   sandbox and this process, and the RSS of the API and the sandbox (statm);
// - this process wraps the emulator's media server: when Baileys' upload POST arrives and when
//   it was read, hashed and stored (the emulator's contact then reads the file in process);
// - the POST's 201 and the contact's decryption (the emulator's received list, polled every 5 ms).
// After the rounds, `reps` times each, for comparison:
// - bench/media-baseline.ts on the same media server, with its variants (encrypting chunk by
//   chunk into a file as Baileys does, uploading that file as a Readable.toWeb stream as
//   Baileys does on Bun, and as a Bun.file), with the JIT on and off (the sandbox image runs
//   Bun with BUN_JSC_useJIT=0);
// - the API serving the last stored file (GET …/media, which reads the store as the sandbox's
//   GET on the channel does), with the API's CPU;
// - a bare Bun.serve on a unix socket (another process: this script with --serve) serving a file
//   of that size as the API serves a stored one (Readable.toWeb(createReadStream)) and as a
//   Bun.file, read here as the sandbox reads it (Readable.fromWeb), with the server's RSS growth.
//
// Usage: bun bench/media-profile.ts [MiB=16] [type=document] [modes=json,multipart,url] [reps=2]
// Needs what scripts/test.sh sets up, run as root (it reads the API's and the container's /proc).
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";

// The bare file server of the last comparison: /stream as the API serves a stored file, /file as a Bun.file.
if (process.argv[2] === "--serve") {
  const [socket, path] = process.argv.slice(3);
  Bun.serve({
    unix: socket!,
    fetch: (req) =>
      new URL(req.url).pathname === "/stream" ? new Response(Readable.toWeb(createReadStream(path!)) as unknown as ReadableStream) : new Response(Bun.file(path!)),
  });
  console.log("ready");
  await new Promise(() => {});
}

import { emulatorControl, startEmulatorForContainers } from "../test/support/emulator";
import { waitFor } from "../test/support/env";
import { median } from "./stats";
import { apiPid, descendants } from "./proc-tree";
import { startMediaApi } from "./media-stack";

const MiB = 1024 * 1024;
const sizeMiB = Number(process.argv[2] ?? 16);
const type = process.argv[3] ?? "document";
const modes = (process.argv[4] ?? "json,multipart,url").split(",");
const reps = Number(process.argv[5] ?? 2);
const CONTACT = "4915199990004";
const now = () => performance.timeOrigin + performance.now();
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const TICK_S = 0.01; // USER_HZ 100

function mp4(bytes: number): Buffer {
  const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from("ftypisom"), Buffer.from([0, 0, 2, 0]), Buffer.from("isomiso2")]);
  const mdat = Buffer.alloc(8);
  mdat.writeUInt32BE(bytes - ftyp.length, 0);
  mdat.write("mdat", 4);
  return Buffer.concat([ftyp, mdat, randomBytes(bytes - ftyp.length - mdat.length)]);
}
const makeFile = () => (type === "video" ? mp4(sizeMiB * MiB) : randomBytes(sizeMiB * MiB));
const mime = type === "video" ? "video/mp4" : "application/octet-stream";
const fname = type === "video" ? "clip.mp4" : "bench.bin";


// ---- the stack ----
const emu = await startEmulatorForContainers({ logLevel: "silent" });
const control = emulatorControl(emu);
await control("POST", "/control/numbers", { add: [CONTACT] });
const media = emu.state.media!;
const mediaEvents: { kind: "upload" | "download"; arrived: number; done: number; bytes: number }[] = [];
{
  const handle = media.handle.bind(media);
  media.handle = async (req: Request) => {
    const arrived = now();
    const kind = new URL(req.url).pathname.startsWith("/mms/") ? "upload" : "download";
    const res = await handle(req);
    mediaEvents.push({ kind, arrived, done: now(), bytes: Number(res.headers.get("content-length") ?? req.headers.get("content-length") ?? 0) });
    return res;
  };
}
// The media.url source: this process serves the current file on loopback.
let served: Buffer = Buffer.alloc(0);
const urlHits: number[] = [];
const fileServer = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: () => {
    urlHits.push(now());
    return new Response(new Uint8Array(served), { headers: { "content-type": mime } });
  },
});
const t = await startMediaApi(emu, Math.max(64, sizeMiB) * MiB);
const watcher = new Worker(new URL("./media-timeline.ts", import.meta.url).href);

interface Trace {
  files: { group: string; path: string; first: number; grown: number; size: number; last: number }[];
  children: { pid: number; comm: string; first: number; last: number; ticks: number }[];
  cpu: { t: number; ticks: Record<string, number>; rss: Record<string, number> }[];
  ticks: number;
  worstGapMs: number;
}

try {
  const s = await t.createSession("bench-media-profile");
  const phone = `49151${40000000 + Math.floor(Math.random() * 100000) * 10 + 5}`;
  const state = async () => (await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).body.session.state;
  await waitFor(async () => (await state()) === "qr_ready", 60_000, "qr_ready");
  await control("POST", "/control/scan", { qr: (await t.call("GET", `/sessions/${s.id}/qr`, { key: s.apiKey })).body.qr, phoneNumber: phone });
  await waitFor(async () => (await state()) === "ready", 60_000, "ready");
  const api = apiPid();
  const c = await t.runtime.client.json<{ State: { Pid: number } }>("GET", `/containers/wa-session-${s.id}/json`);
  const box = [c.State.Pid, ...descendants(c.State.Pid)].find((p) => readFileSync(`/proc/${p}/comm`, "utf8").trim() === "wa-sandbox") ?? c.State.Pid;
  console.log(`API pid ${api}, sandbox pid ${box}; ${sizeMiB} MiB ${type}, modes ${modes.join(", ")}, ${reps} rounds; ${navigator.hardwareConcurrency} cores`);

  const decrypted = async (hash: string) => {
    for (;;) {
      const got = ((await control("GET", `/control/phones/${CONTACT}/received`)).body.messages as any[]).some((m) => m.media?.sha256 === hash);
      if (got) return now();
      await Bun.sleep(5);
    }
  };
  const send = async (mode: string, bytes: Buffer): Promise<{ t0: number; t201: number; tDec: number; trace: Trace; id: string }> => {
    let body: BodyInit;
    const headers: Record<string, string> = { "x-api-key": s.apiKey };
    if (mode === "json") {
      body = JSON.stringify({ to: CONTACT, type, ...(type === "document" ? { fileName: fname } : {}), media: { data: bytes.toString("base64") } });
      headers["content-type"] = "application/json";
    } else if (mode === "multipart") {
      const form = new FormData();
      form.set("to", CONTACT);
      form.set("type", type);
      if (type === "document") form.set("fileName", fname);
      form.set("file", new Blob([new Uint8Array(bytes)], { type: mime }), fname);
      body = form;
    } else {
      served = bytes;
      body = JSON.stringify({ to: CONTACT, type, ...(type === "document" ? { fileName: fname } : {}), media: { url: `http://127.0.0.1:${fileServer.port}/${fname}` } });
      headers["content-type"] = "application/json";
    }
    // What the last send left settles first: until the API's RSS stops falling, at most 15 s.
    const statmKiB = () => Number(readFileSync(`/proc/${api}/statm`, "utf8").split(" ")[1]) * 4;
    for (let i = 0; i < 15; i++) {
      const r1 = statmKiB();
      await Bun.sleep(1000);
      if (r1 - statmKiB() < 1024) break;
    }
    watcher.postMessage({
      type: "start",
      everyMs: 5,
      dirs: {
        form: { dir: tmpdir(), depth: 2, match: "wa-upload-" },
        store: { dir: join(t.dataDir, "media", "tmp"), depth: 1 },
        sandbox: { dir: `/proc/${box}/root/data/tmp`, depth: 1 },
      },
      pids: { api, sandbox: box, bench: process.pid },
      childrenOf: api,
    });
    await Bun.sleep(20);
    mediaEvents.length = 0;
    urlHits.length = 0;
    const hash = sha256(bytes);
    const t0 = now();
    const res = await fetch(`${t.url}/sessions/${s.id}/messages`, { method: "POST", headers, body });
    const t201 = now();
    const json = (await res.json()) as any;
    if (res.status !== 201) throw new Error(`${mode}: ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
    const tDec = await decrypted(hash);
    await Bun.sleep(30);
    const trace = await new Promise<Trace>((resolve) => {
      watcher.onmessage = (e) => resolve(e.data as Trace);
      watcher.postMessage({ type: "stop" });
    });
    return { t0, t201, tDec, trace, id: json.message.id };
  };

  // Warm-up: every path compiled once, the contact's Signal session set up.
  await t.call("POST", `/sessions/${s.id}/messages`, { key: s.apiKey, body: { to: CONTACT, text: "warm-up" } });
  for (const mode of modes) {
    const small = type === "video" ? mp4(MiB) : randomBytes(MiB);
    await send(mode, small);
  }

  const stageTable = new Map<string, Map<string, number[]>>();
  let lastSent = "";
  for (let round = 0; round < reps; round++) {
    for (const mode of modes) {
      const bytes = makeFile();
      const r = await send(mode, bytes);
      lastSent = r.id;
      const rel = (x: number | undefined) => (x === undefined ? NaN : (x - r.t0) / 1000);
      const of = (group: string) => r.trace.files.filter((f) => f.group === group && f.size > 0).sort((a, b) => b.size - a.size)[0];
      const form = of("form");
      const store = of("store");
      const enc = r.trace.files.filter((f) => f.group === "sandbox" && f.path.endsWith("-enc")).sort((a, b) => b.size - a.size)[0];
      const up = mediaEvents.find((e) => e.kind === "upload");
      const down = mediaEvents.find((e) => e.kind === "download");
      const kids = r.trace.children.filter((k) => /ff(probe|mpeg)/.test(k.comm));
      // CPU (s) of each process between two instants, from the 5 ms samples.
      const cpuBetween = (a: number, b: number) => {
        const first = r.trace.cpu.find((x) => x.t >= a) ?? r.trace.cpu[0]!;
        const last = [...r.trace.cpu].reverse().find((x) => x.t <= b) ?? r.trace.cpu.at(-1)!;
        const out: Record<string, number> = {};
        for (const k of Object.keys(first.ticks)) out[k] = (last.ticks[k]! - first.ticks[k]!) * TICK_S;
        return out;
      };
      // The API's and the sandbox's largest RSS between two instants, over their RSS when the POST went (MiB).
      const rssAt0 = r.trace.cpu[0]!.rss;
      const rssGrowth = (a: number, b: number) => {
        const inside = r.trace.cpu.filter((x) => x.t >= a && x.t <= b);
        const top = (k: string) => (inside.length ? Math.max(...inside.map((x) => x.rss[k]!)) - rssAt0[k]! : NaN) / 1024;
        return { api: top("api"), sandbox: top("sandbox") };
      };
      const stages: [string, number, number][] = [];
      const push = (name: string, a: number | undefined, b: number | undefined) => {
        if (a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b)) stages.push([name, a, b]);
      };
      if (mode === "multipart") push("client -> API: form part written to the temporary file", r.t0, form?.grown);
      if (mode === "url") push("API fetch asked (guard, connect)", r.t0, urlHits[0]);
      const bodyReady = mode === "multipart" ? form?.grown : mode === "url" ? urlHits[0] : r.t0;
      push(mode === "json" ? "JSON body read, parsed, base64 decoded (until the store's file appears)" : "until the store's file appears", bodyReady, store?.first);
      push("store: written and hashed (first byte -> last growth)", store?.first, store?.grown);
      const kidsFirst = kids.length ? Math.min(...kids.map((k) => k.first)) : undefined;
      const kidsLast = kids.length ? Math.max(...kids.map((k) => k.last)) : undefined;
      push("store done -> ffprobe/ffmpeg start", store?.grown, kidsFirst);
      push(`ffprobe/ffmpeg (${kids.length} processes, seen)`, kidsFirst, kidsLast);
      const handedFrom = kidsLast ?? store?.grown;
      push("-> the sandbox's encrypted temp file appears (row inserted, frame to the sandbox, its GET answered)", handedFrom, enc?.first);
      push("sandbox: GET from the API + encrypt into /data/tmp (enc file first -> last growth)", enc?.first, enc?.grown);
      push("-> upload POST arrives at the media server", enc?.grown, up?.arrived);
      push("upload: body read, hashed, stored by the media server", up?.arrived, up?.done);
      if (down) {
        push("-> the contact's download GET arrives (message relayed)", up?.done, down.arrived);
        push("-> the contact has decrypted it (download, check, decrypt; polled 5 ms)", down.arrived, r.tDec);
      } else push("-> message relayed, the contact has decrypted it (the emulator's contact reads the media server in process; polled 5 ms)", up?.done, r.tDec);
      console.log(
        `\n${mode} round ${round + 1}: POST -> 201 ${((r.t201 - r.t0) / 1000).toFixed(2)} s, -> decrypted at the contact ${((r.tDec - r.t0) / 1000).toFixed(2)} s; ` +
          `watcher ${r.trace.ticks} samples, worst gap ${r.trace.worstGapMs.toFixed(0)} ms`,
      );
      for (const [name, a, b] of stages) {
        const cpu = cpuBetween(a, b);
        const grown = rssGrowth(a, b);
        console.log(
          `  ${rel(a).toFixed(3).padStart(6)} -> ${rel(b).toFixed(3).padStart(6)} s  ${((b - a) / 1000).toFixed(3).padStart(6)} s  ${name.padEnd(100)} cpu api ${cpu.api!.toFixed(2)} sandbox ${cpu.sandbox!.toFixed(2)} bench ${cpu.bench!.toFixed(2)}; ` +
            `RSS at most api +${grown.api.toFixed(1)} sandbox +${grown.sandbox.toFixed(1)} MiB`,
        );
        const byMode = stageTable.get(mode) ?? new Map<string, number[]>();
        stageTable.set(mode, byMode);
        byMode.set(name, [...(byMode.get(name) ?? []), (b - a) / 1000]);
      }
      for (const k of kids) console.log(`         ${k.comm} pid ${k.pid}: seen ${rel(k.first).toFixed(3)} -> ${rel(k.last).toFixed(3)} s, cpu >= ${(k.ticks * TICK_S).toFixed(2)} s`);
      const all = cpuBetween(r.t0, r.tDec);
      const allRss = rssGrowth(r.t0, r.tDec);
      console.log(
        `  whole send: cpu api ${all.api!.toFixed(2)} s, sandbox ${all.sandbox!.toFixed(2)} s, bench+emulator ${all.bench!.toFixed(2)} s; ` +
          `RSS api ${(rssAt0.api! / 1024).toFixed(1)} MiB +${allRss.api.toFixed(1)}, sandbox ${(rssAt0.sandbox! / 1024).toFixed(1)} MiB +${allRss.sandbox.toFixed(1)} at most`,
      );
      const e2e = stageTable.get(mode)!;
      e2e.set("(end to end)", [...(e2e.get("(end to end)") ?? []), (r.tDec - r.t0) / 1000]);
    }
  }
  // The same media server, without the API or the sandbox; and the API serving the last file.
  const apiTicks = () => {
    const f = readFileSync(`/proc/${api}/stat`, "utf8");
    const x = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return (Number(x[11]) + Number(x[12])) * TICK_S;
  };
  const base: Record<string, number[]> = {};
  for (let i = 0; i < reps; i++) {
    // Also with the JIT off, as the sandbox image runs Bun (BUN_JSC_useJIT=0).
    for (const jit of ["", "0"]) {
      const child = Bun.spawn(["bun", join(import.meta.dir, "media-baseline.ts"), media.socketPath!, media.host, media.issueAuth(), String(sizeMiB), "variants"], {
        env: { ...process.env, MEDIA_CA: emu.mediaCa, ...(jit ? { BUN_JSC_useJIT: jit } : {}) },
        stdout: "pipe",
        stderr: "inherit",
      });
      const out = await new Response(child.stdout).text();
      if ((await child.exited) !== 0) throw new Error("bench/media-baseline.ts failed");
      for (const [k, v] of Object.entries(JSON.parse(out.trim().split("\n").at(-1)!) as Record<string, number>)) {
        if (k !== "bytes") (base[`${k}${jit ? " (JIT off)" : ""}`] ??= []).push(v / 1000);
      }
    }
    const c0 = apiTicks();
    const g0 = now();
    const res = await fetch(`${t.url}/sessions/${s.id}/messages/${lastSent}/media`, { headers: { "x-api-key": s.apiKey } });
    const got = (await res.arrayBuffer()).byteLength;
    (base["apiServesFile (GET …/media, whole)"] ??= []).push((now() - g0) / 1000);
    (base["apiServesFile: the API's CPU"] ??= []).push(apiTicks() - c0);
    if (got !== sizeMiB * MiB) throw new Error(`GET …/media answered ${got} bytes`);
  }
  console.log(`\n${sizeMiB} MiB without the stack, medians of ${reps} (s): ` + Object.entries(base).map(([k, v]) => `${k} ${median(v).toFixed(3)}`).join(", "));
  {
    const dir = mkdtempSync(join(tmpdir(), "media-profile-"));
    const path = join(dir, "file");
    const socket = join(dir, "serve.sock");
    writeFileSync(path, randomBytes(sizeMiB * MiB));
    const served: Record<string, { s: number[]; rss: number }> = {};
    try {
      for (const how of ["stream", "file"]) {
        // One server for each way: a first request (its code compiled), then `reps` timed ones; its RSS over its start at most.
        rmSync(socket, { force: true });
        const server = Bun.spawn(["bun", import.meta.path, "--serve", socket, path], { stdout: "pipe", stderr: "inherit" });
        await server.stdout.getReader().read(); // "ready"
        const statm = () => Number(readFileSync(`/proc/${server.pid}/statm`, "utf8").split(" ")[1]) * 4;
        const rss0 = statm();
        let top = rss0;
        const timer = setInterval(() => (top = Math.max(top, statm())), 5);
        const r: { s: number[]; rss: number } = { s: [], rss: 0 };
        served[how] = r;
        for (let i = 0; i <= reps; i++) {
          const t0 = now();
          const res = await fetch(`http://localhost/${how}`, { unix: socket } as RequestInit);
          let n = 0;
          for await (const chunk of Readable.fromWeb(res.body as never)) n += (chunk as Buffer).length;
          if (n !== sizeMiB * MiB) throw new Error(`the bare server answered ${n} bytes`);
          if (i > 0) r.s.push((now() - t0) / 1000);
        }
        clearInterval(timer);
        r.rss = (top - rss0) / 1024;
        server.kill();
        await server.exited;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    console.log(
      `${sizeMiB} MiB from a bare Bun.serve over a unix socket, read with Readable.fromWeb, medians of ${reps} after one: ` +
        Object.entries(served)
          .map(([how, r]) => `${how === "stream" ? "Readable.toWeb(createReadStream) (as the API serves a stored file)" : "Bun.file"} ${median(r.s).toFixed(3)} s (warm), server RSS +${r.rss.toFixed(1)} MiB at most`)
          .join("; "),
    );
  }
  console.log(`(${cpus().length} CPUs; load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")})`);

  console.log(`\nmedians over ${reps} rounds (s):`);
  for (const [mode, byStage] of stageTable) {
    console.log(`${mode}:`);
    for (const [name, xs] of byStage) console.log(`  ${median(xs).toFixed(3).padStart(6)}  ${name}`);
  }
} finally {
  watcher.terminate();
  fileServer.stop(true);
  await t.close();
  await emu.stop();
}
process.exit(0);
