// Issue figure: `podman run` of the sandbox image straight from the CLI against the API's
// create-to-container-running (POST /sessions/create answers at once; the container follows),
// 10 of each, medians and ratio; then 50 sessions created concurrently through the API (until
// their containers exist; bench/density.ts times bursts side by side with Podman alone).
// Run after `bash scripts/podman-rootless.sh` (root): PODMAN_SOCKET and PODMAN_USER as it prints.
import { $ } from "bun";
import { loadConfig } from "../src/config";
import { startTestApi } from "../test/support/api";
import { waitFor } from "../test/support/env";
import { median, ms, summary } from "./stats";

const user = process.env.PODMAN_USER ?? "wasandbox";
const uid = (await $`id -u ${user}`.text()).trim();
const image = loadConfig({}).sandboxImage;
const runs = Number(process.argv[2] ?? 10);
const podman = (args: string[]) =>
  $`runuser -u ${user} -- env XDG_RUNTIME_DIR=/run/user/${uid} HOME=/home/${user} podman ${args}`.cwd("/").quiet();

// The same hardening the runtime asks for, so both sides start the same kind of container.
const flags = ["--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--read-only", "--tmpfs", "/tmp", "--user", "10001:10001", "--init"];
const cli: number[] = [];
for (let i = 0; i < runs; i++) {
  const name = `bench-cli-${i}-${Date.now()}`;
  const t0 = performance.now();
  await podman(["run", "-d", "--rm", "--name", name, ...flags, "-e", "SESSION_ID=bench", "-e", "CHANNEL_URL=ws://127.0.0.1:9/x", "-e", "CHANNEL_TOKEN=x", image]);
  cli.push(performance.now() - t0);
  await podman(["rm", "-f", name]);
}

const t = await startTestApi("pglite");
const api: number[] = [];
try {
  for (let i = 0; i < runs; i++) {
    // Create answers at once (starting); the container follows: timed until it runs.
    const t0 = performance.now();
    const res = await t.call("POST", "/sessions/create", { body: { name: `bench-${i}` } });
    if (res.status !== 201) throw new Error(`create answered ${res.status}`);
    await waitFor(() => t.runtime.isRunning(res.body.session.id), 60_000, "the container to run");
    api.push(performance.now() - t0);
    await t.call("DELETE", `/sessions/${res.body.session.id}`);
  }
  console.log(summary("podman run -d --rm (CLI)", cli));
  console.log(summary("API create to container running", api));
  console.log(`API / podman: ${(median(api) / median(cli)).toFixed(2)}x (goal: at most 1.30x)`);

  const n = Number(process.argv[3] ?? 50);
  const t0 = performance.now();
  const made = await Promise.all(Array.from({ length: n }, (_, i) => t.createSession(`burst-${i}`)));
  const total = performance.now() - t0;
  const running = (await t.runtime.list()).filter((b) => b.running).length;
  console.log(`${n} sessions created concurrently: ${ms(total)} (${running} containers running)`);
  await Promise.all(made.map((s) => t.call("DELETE", `/sessions/${s.id}`)));
} finally {
  await t.close();
}
