// `bun run sandbox:build [--if-missing]`: compiles sandbox/main.ts into one executable, lays out
// a FROM-scratch context (the executable, the libraries `ldd` names, CA certificates, a passwd
// entry for the non-root user) and builds it through the Podman socket, so the image lands in
// the store the API uses. The tag is SANDBOX_IMAGE or localhost/wa-sandbox:<package version>.
import { $, type BunPlugin } from "bun";
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { loadConfig } from "../../src/config";
import { PodmanClient } from "../../src/runtime/podman/client";
import { buildImage, imageExists } from "../../src/runtime/podman/images";
import { enableHint, ping } from "../../src/runtime/podman/system";
import { lazyProtoPlugin } from "./lazy-proto";

const root = join(import.meta.dir, "../..");
const work = join(import.meta.dir, ".build");
const config = loadConfig();
const client = new PodmanClient(config.podmanSocket);
const tag = config.sandboxImage;

if (!(await ping(client))) {
  console.error(enableHint(config.podmanSocket));
  process.exit(1);
}
if (process.argv.includes("--if-missing") && (await imageExists(client, tag))) {
  console.log(`${tag} is present`);
  process.exit(0);
}

const started = performance.now();
rmSync(work, { recursive: true, force: true });
const rootfs = join(work, "context", "rootfs");
mkdirSync(rootfs, { recursive: true });
mkdirSync(join(work, "context", "data"), { recursive: true });
const binary = join(rootfs, "wa-sandbox");
// --smol: a smaller heap that collects more often; an idle session needs little. Bytecode
// (ESM: the sandbox awaits at top level): functions come precompiled from the executable's
// file-backed pages, which overlay storage shares between containers, instead of each sandbox
// parsing 5 MB of JavaScript into its own memory. Measured on an idle linked sandbox, JIT off:
// anonymous memory 23.1 -> 19.6 MiB, CPU time from start to linked 1.6 -> 0.9 s.
// lazyProtoPlugin: WAProto's message types are defined on first use (see sandbox/image/lazy-proto.ts).
// pinoSwap: sandbox/baileys-log.ts stands in for pino, which only Baileys' default logger imports;
// another importer would fail the build (it might need more of pino than that module offers).
const pinoSwap: BunPlugin = {
  name: "pino-swap",
  setup(build) {
    build.onResolve({ filter: /^pino$/ }, (args) => {
      if (!/@whiskeysockets[\\/]baileys[\\/]lib[\\/]Utils[\\/]logger\.js$/.test(args.importer)) {
        throw new Error(`pino-swap: unexpected importer of pino: ${args.importer}`);
      }
      return { path: join(import.meta.dir, "..", "baileys-log.ts") };
    });
  },
};
const result = await Bun.build({
  entrypoints: [join(import.meta.dir, "..", "main.ts")],
  target: "bun",
  format: "esm",
  minify: true,
  bytecode: true,
  compile: { outfile: binary, execArgv: ["--smol"] },
  plugins: [lazyProtoPlugin(), pinoSwap],
  throw: false,
});
if (!result.success) {
  for (const message of result.logs) console.error(message);
  process.exit(1);
}

// The dynamic loader and every library the executable links, at the paths it expects.
const ldd = await $`ldd ${binary}`.text();
for (const m of ldd.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)) {
  const lib = m[1]!;
  mkdirSync(join(rootfs, dirname(lib)), { recursive: true });
  copyFileSync(lib, join(rootfs, lib)); // copyFileSync follows symlinks: the real file lands there
}
mkdirSync(join(rootfs, "etc/ssl/certs"), { recursive: true });
copyFileSync("/etc/ssl/certs/ca-certificates.crt", join(rootfs, "etc/ssl/certs/ca-certificates.crt"));
writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/:/sbin/nologin\nsandbox:x:10001:10001:sandbox:/data:/sbin/nologin\n");
writeFileSync(join(rootfs, "etc/group"), "root:x:0:\nsandbox:x:10001:\n");
mkdirSync(join(rootfs, "tmp"), { recursive: true });
copyFileSync(join(import.meta.dir, "Containerfile"), join(work, "context", "Containerfile"));

const tar = join(work, "context.tar");
await $`tar -C ${join(work, "context")} -cf ${tar} .`.quiet();
const id = await buildImage(client, Bun.file(tar), {
  tag,
  labels: { "org.opencontainers.image.title": "wa-sandbox" },
  onOutput: (line) => process.env.VERBOSE && process.stdout.write(line),
});
rmSync(work, { recursive: true, force: true });
console.log(`built ${tag} (${id.slice(0, 12)}) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
