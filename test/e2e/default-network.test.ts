// Podman's default rootless network (SANDBOX_NETWORK empty; `none` is the default and the other
// tests' choice): the sandbox still reaches the emulator through its unix socket, so no traffic leaves this host.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { containerName } from "../../src/runtime/podman-runtime";
import { inspectContainer } from "../../src/runtime/podman/containers";
import type { RunningEmulator } from "../emulator";
import { startTestApi, type TestApi } from "../support/api";
import { startEmulatorForContainers } from "../support/emulator";
import { waitFor } from "../support/env";

let emu: RunningEmulator;
let t: TestApi;

beforeAll(async () => {
  emu = await startEmulatorForContainers();
  // An empty SANDBOX_NETWORK leaves the choice to Podman (slirp4netns for rootless 4.x).
  t = await startTestApi("pglite", { WA_WS_URL: emu.wsUrl, WA_TRUST_ROOT: emu.trustRoot, SANDBOX_NETWORK: "" });
});

afterAll(async () => {
  await t?.close();
  await emu?.stop();
});

test("with Podman's default network a session comes up to qr_ready", async () => {
  const s = await t.createSession("default-network");
  const container = await inspectContainer(t.runtime.client, containerName(s.id));
  expect(container.HostConfig.NetworkMode).not.toBe("none");
  expect(container.HostConfig.NetworkMode).not.toBe("host");
  await waitFor(async () => (await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).body.session.state === "qr_ready", 20_000, "qr_ready");
  expect((await t.call("DELETE", `/sessions/${s.id}`)).status).toBe(200);
});
