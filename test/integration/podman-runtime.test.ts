// The Podman runtime against a real rootless Podman: the typed client, the hardened container
// of a session, and how sessions and containers stay in line through the API.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, statSync } from "node:fs";
import { loadConfig } from "../../src/config";
import { silentLogger } from "../../src/log";
import { PodmanClient } from "../../src/runtime/podman/client";
import { inspectContainer, killContainer, listContainers } from "../../src/runtime/podman/containers";
import { PodmanNotFoundError, PodmanUnavailableError } from "../../src/runtime/podman/errors";
import { imageExists } from "../../src/runtime/podman/images";
import { ping, version } from "../../src/runtime/podman/system";
import { listVolumes, volumeExists } from "../../src/runtime/podman/volumes";
import { containerName, INSTANCE_LABEL, PodmanRuntime, SANDBOX_USER, volumeName } from "../../src/runtime/podman-runtime";
import { RuntimeError } from "../../src/runtime/types";
import { startTestApi, type TestApi } from "../support/api";
import { requireEnv, waitFor } from "../support/env";

const socket = requireEnv("PODMAN_SOCKET");
const client = new PodmanClient(socket);

describe("libpod client", () => {
  test("ping and version answer on the socket", async () => {
    expect(await ping(client)).toBe(true);
    expect((await version(client)).Version).toMatch(/^\d+\.\d+/);
  });

  test("a missing container is a typed not-found error carrying libpod's message", async () => {
    const err = await inspectContainer(client, "wa-session-does-not-exist").catch((e) => e);
    expect(err).toBeInstanceOf(PodmanNotFoundError);
    expect(err.status).toBe(404);
    expect(err.message).toContain("no such container");
  });

  test("a socket nobody listens on is a typed unavailable error", async () => {
    const dead = new PodmanClient("/tmp/no-podman-here.sock");
    expect(await ping(dead)).toBe(false);
    expect(await version(dead).catch((e) => e)).toBeInstanceOf(PodmanUnavailableError);
  });

  test("the sandbox image exists; a made-up one does not", async () => {
    expect(await imageExists(client, loadConfig({}).sandboxImage)).toBe(true);
    expect(await imageExists(client, "localhost/wa-sandbox:does-not-exist")).toBe(false);
  });
});

describe("sessions and their containers", () => {
  let t: TestApi;
  beforeAll(async () => {
    t = await startTestApi("pglite");
  });
  afterAll(async () => {
    await t?.close();
  });

  const ours = async () => listContainers(client, { all: true, labels: [`${INSTANCE_LABEL}=${t.env.INSTANCE_ID}`] });
  const ourVolumes = async () => listVolumes(client, { labels: [`${INSTANCE_LABEL}=${t.env.INSTANCE_ID}`] });

  test("create makes exactly one hardened container and one volume", async () => {
    const s = await t.createSession();
    const boxes = (await ours()).filter((b) => b.Labels?.["wa.session-id"] === s.id);
    expect(boxes).toHaveLength(1);
    expect(boxes[0]!.Names).toEqual([containerName(s.id)]);
    expect((await ourVolumes()).filter((v) => v.Name === volumeName(s.id))).toHaveLength(1);

    const c = await inspectContainer(client, containerName(s.id));
    expect(c.State.Running).toBe(true);
    expect(c.Config.User).toBe(SANDBOX_USER);
    expect(c.HostConfig.ReadonlyRootfs).toBe(true);
    expect(c.HostConfig.SecurityOpt).toContain("no-new-privileges");
    expect(c.HostConfig.CapAdd ?? []).toEqual([]);
    for (const cap of ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_NET_RAW", "CAP_SETUID", "CAP_SETGID", "CAP_KILL"]) expect(c.HostConfig.CapDrop).toContain(cap);
    expect(c.EffectiveCaps ?? []).toEqual([]);
    expect(c.HostConfig.RestartPolicy.Name).toBe("on-failure");
    expect(c.HostConfig.NetworkMode).toBe("none");
    expect(Object.keys(c.HostConfig.Tmpfs ?? {})).toEqual(["/tmp"]);
    expect(c.Config.Labels).toMatchObject({ "wa.session-id": s.id, [INSTANCE_LABEL]: t.env.INSTANCE_ID });
    const data = c.Mounts.find((m) => m.Destination === "/data");
    expect(data).toMatchObject({ Type: "volume", Name: volumeName(s.id), RW: true });
    // Only the volume, the channel socket's folder, the session's own egress folder and /tmp: nothing else of the host.
    expect(c.Mounts.map((m) => m.Destination).sort()).toEqual(["/data", "/run/wa-channel", "/run/wa-egress"]);
    expect(c.Mounts.find((m) => m.Destination === "/run/wa-egress")?.Source).toEndWith(`/egress/sessions/${s.id}`);
    // Environment: what the sandbox needs and no key of the API.
    const env = Object.fromEntries(c.Config.Env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
    expect(env.SESSION_ID).toBe(s.id);
    expect(env.CHANNEL_URL).toBe(`ws+unix:///run/wa-channel/channel.sock:/channel/${s.id}`);
    expect(env.CHANNEL_TOKEN).toMatch(/^eyJ/);
    expect(env.BUN_JSC_useJIT).toBe("0"); // the image's: no JIT, no writable-executable memory
    expect(JSON.stringify(env)).not.toContain("wamk_");
    expect(JSON.stringify(env)).not.toContain("wask_");
  });

  test("memory, pids and CPU limits are set wherever the host's cgroups let rootless Podman enforce them", async () => {
    const info = await client.json<{ host: { cgroupVersion: string; cgroupControllers: string[] | null } }>("GET", "/info");
    const s = await t.createSession();
    const c = await inspectContainer(client, containerName(s.id));
    if (info.host.cgroupVersion === "v2" && (info.host.cgroupControllers ?? []).includes("memory")) {
      expect(c.HostConfig.Memory).toBe(256 * 1024 * 1024);
      expect(c.HostConfig.PidsLimit).toBe(256);
    } else {
      // cgroup v1 without delegation (these CI machines): Podman drops the limits. The runtime
      // still asks for them, as the spec it sends shows.
      const spec = t.runtime.spec(s.id, { env: {}, binds: [] });
      expect(spec.resource_limits).toEqual({ memory: { limit: 256 * 1024 * 1024, swap: 256 * 1024 * 1024 }, pids: { limit: 256 }, cpu: { shares: 512 } });
    }
  });

  test("stop keeps the volume and its files; start reuses them", async () => {
    const s = await t.createSession();
    const volume = volumeName(s.id);
    // A file in the volume, as the sandbox's auth state would be (written from the host side).
    const { Mountpoint } = await client.json<{ Mountpoint: string }>("GET", `/volumes/${volume}/json`);
    await Bun.write(`${Mountpoint}/marker.json`, JSON.stringify({ kept: s.id }));
    const owner = statSync(Mountpoint); // the container user's uid as the host sees it
    chownSync(`${Mountpoint}/marker.json`, owner.uid, owner.gid);
    expect((await t.call("POST", `/sessions/${s.id}/stop`, { key: s.apiKey })).status).toBe(200);
    expect((await inspectContainer(client, containerName(s.id))).State.Running).toBe(false);
    expect(await volumeExists(client, volume)).toBe(true);
    const before = await client.json<{ Mountpoint: string; CreatedAt: string }>("GET", `/volumes/${volume}/json`);
    expect((await t.call("POST", `/sessions/${s.id}/start`, { key: s.apiKey })).status).toBe(200);
    const after = await client.json<{ Mountpoint: string; CreatedAt: string }>("GET", `/volumes/${volume}/json`);
    expect(after.CreatedAt).toBe(before.CreatedAt);
    expect(await Bun.file(`${after.Mountpoint}/marker.json`).json()).toEqual({ kept: s.id });
    const c = await inspectContainer(client, containerName(s.id));
    expect(c.State.Running).toBe(true);
    expect(c.Mounts.find((m) => m.Destination === "/data")?.Name).toBe(volume);
    expect((await ours()).filter((b) => b.Labels?.["wa.session-id"] === s.id)).toHaveLength(1);
  });

  test("delete leaves no container and no volume", async () => {
    const s = await t.createSession();
    expect((await t.call("DELETE", `/sessions/${s.id}`, { key: s.apiKey })).status).toBe(200);
    expect((await ours()).some((b) => b.Labels?.["wa.session-id"] === s.id)).toBe(false);
    expect(await volumeExists(client, volumeName(s.id))).toBe(false);
  });

  test("a container killed from outside moves its session out of starting/ready within 5 s", async () => {
    const s = await t.createSession();
    const started = Date.now();
    // As `podman kill` would: straight through the engine, not through the API.
    await killContainer(client, containerName(s.id), { signal: "SIGKILL" });
    await waitFor(async () => {
      const st = (await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey })).body.session.state;
      return st === "failed" ? st : undefined;
    }, 5000, "state failed after the kill");
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test("10 sessions created at once give 10 containers, and none is left after deleting them", async () => {
    const before = (await ours()).length;
    const created = await Promise.all(Array.from({ length: 10 }, (_, i) => t.createSession(`burst-${i}`)));
    expect(new Set(created.map((c) => c.id)).size).toBe(10);
    const boxes = await ours();
    expect(boxes.length).toBe(before + 10);
    for (const c of created) expect(boxes.filter((b) => b.Labels?.["wa.session-id"] === c.id)).toHaveLength(1);
    await Promise.all(created.map((c) => t.call("DELETE", `/sessions/${c.id}`, { key: c.apiKey })));
    const after = await ours();
    expect(after.length).toBe(before);
    const vols = await ourVolumes();
    for (const c of created) expect(vols.some((v) => v.Name === volumeName(c.id))).toBe(false);
  });

  test("reconcile at start leaves containers of unknown sessions (and their volumes) alone and fails sessions without a container", async () => {
    const s = await t.createSession();
    // A container with this instance's label that this database does not know: it may be
    // another install's, so neither it nor its volume (a linked account) may be removed.
    const orphan = crypto.randomUUID();
    await t.runtime.create(orphan, { env: { SESSION_ID: orphan, CHANNEL_URL: "ws://127.0.0.1:9/x", CHANNEL_TOKEN: "x" }, binds: [] });
    try {
      await t.stopApi();
      await t.runtime.remove(s.id); // the session's container vanishes while the API is down
      await t.restartApi();
      expect(await t.runtime.exists(orphan)).toBe(true);
      expect(await volumeExists(client, volumeName(orphan))).toBe(true);
      const st = await t.call("GET", `/sessions/${s.id}/status`, { key: s.apiKey });
      expect(st.body.session.state).toBe("failed");
    } finally {
      await t.runtime.remove(orphan);
    }
  });
});

describe("a missing image", () => {
  test("create answers a clear 503 at once and leaves nothing behind", async () => {
    const t = await startTestApi("pglite", { SANDBOX_IMAGE: "localhost/wa-sandbox:missing" });
    try {
      const started = Date.now();
      const res = await t.call("POST", "/sessions/create", { body: { name: "no-image" } });
      expect(Date.now() - started).toBeLessThan(3000);
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ success: false, code: "SANDBOX_IMAGE_MISSING" });
      expect(res.body.error).toContain("sandbox:build");
      expect((await t.call("GET", "/sessions")).body.sessions).toEqual([]);
      expect(await t.runtime.list()).toEqual([]);
    } finally {
      await t.close();
    }
  });

  test("the runtime says so itself", async () => {
    const rt = new PodmanRuntime(loadConfig({ PODMAN_SOCKET: socket, SANDBOX_IMAGE: "localhost/nothing:here" }), silentLogger);
    const err = await rt.check().catch((e) => e);
    expect(err).toBeInstanceOf(RuntimeError);
    expect(err.code).toBe("SANDBOX_IMAGE_MISSING");
  });
});

describe("channel recovery", () => {
  test("a running sandbox whose token the restarted API no longer accepts is started again with a fresh one", async () => {
    const t = await startTestApi("pglite", { CHANNEL_SECRET: "a".repeat(40), CHANNEL_GRACE_SECONDS: "3" });
    try {
      const s = await t.createSession("recover-me");
      await waitFor(() => t.api.channel.isConnected(s.id), 10_000, "the sandbox on the channel");
      const before = (await inspectContainer(client, containerName(s.id))).Id;
      // A new signing key: every token handed out before is now refused.
      await t.restartApi({ CHANNEL_SECRET: "b".repeat(40) });
      expect(t.api.channel.isConnected(s.id)).toBe(false);
      await waitFor(() => t.api.channel.isConnected(s.id), 15_000, "the sandbox back on the channel");
      const after = await inspectContainer(client, containerName(s.id));
      expect(after.Id).not.toBe(before);
      expect(after.State.Running).toBe(true);
    } finally {
      await t.close();
    }
  });
});
