// SessionRuntime on rootless Podman through its REST socket: one hardened container and one
// named volume per session, found again by labels after an API restart.
import { setTimeout as sleep } from "node:timers/promises";
import type { Config } from "../config";
import type { Logger } from "../log";
import { PodmanClient } from "./podman/client";
import {
  containerExists,
  createContainer,
  inspectContainer,
  listContainers,
  removeContainer,
  startContainer,
  stopContainer,
  type ContainerSpec,
} from "./podman/containers";
import { PodmanError, PodmanNotFoundError, PodmanUnavailableError } from "./podman/errors";
import { followEvents } from "./podman/events";
import { imageExists } from "./podman/images";
import { enableHint, info, ping, unenforcedLimits, storageWarning } from "./podman/system";
import { createVolume, listVolumes, removeVolume, volumeExists } from "./podman/volumes";
import { InstanceClaimedError, type InstanceIdentity } from "./instance-identity";
import { RuntimeError, type RuntimeEvent, type RuntimeSandbox, type SandboxLaunch, type SessionRuntime } from "./types";

export const SESSION_LABEL = "wa.session-id";
export const INSTANCE_LABEL = "wa.instance";
/** The installation that made a container or volume (see instance-identity.ts). */
export const INSTALL_LABEL = "wa.install";
/** The sandbox image's non-root user (see sandbox/image/Containerfile). */
export const SANDBOX_USER = "10001:10001";
const STOP_TIMEOUT_S = 10;

export type PodmanRuntimeConfig = Pick<
  Config,
  "podmanSocket" | "sandboxImage" | "sandboxMemory" | "sandboxNetwork" | "sandboxPids" | "sandboxCpuShares" | "instanceId"
>;

export const containerName = (sessionId: string) => `wa-session-${sessionId}`;
export const volumeName = (sessionId: string) => `wa-session-${sessionId}-data`;

export class PodmanRuntime implements SessionRuntime {
  readonly client: PodmanClient;
  private imageCheckedAt = 0;
  private identity: InstanceIdentity | undefined;
  /** The claim could not be checked at start (no engine): check() does it once the engine answers. */
  private claimUnchecked = false;
  private hostChecked = false;

  constructor(
    private readonly config: PodmanRuntimeConfig,
    private readonly log: Logger,
    client?: PodmanClient,
  ) {
    this.client = client ?? new PodmanClient(config.podmanSocket);
  }

  /** This API's instance id: the claimed identity's, else INSTANCE_ID (undefined before a claim without it). */
  get instanceId(): string | undefined {
    return this.identity?.instanceId ?? this.config.instanceId;
  }

  async claim(identity: InstanceIdentity): Promise<void> {
    this.identity = identity;
    try {
      await this.verifyClaim(identity);
    } catch (err) {
      if (!(err instanceof PodmanUnavailableError)) throw err;
      this.claimUnchecked = true;
    }
  }

  /** Refuses an instance id whose containers or volumes another installation made. */
  private async verifyClaim(identity: InstanceIdentity): Promise<void> {
    const label = [`${INSTANCE_LABEL}=${identity.instanceId}`];
    const [boxes, volumes] = await Promise.all([
      listContainers(this.client, { all: true, labels: label }),
      listVolumes(this.client, { labels: label }),
    ]);
    const others = new Set<string>();
    for (const labels of [...boxes.map((b) => b.Labels), ...volumes.map((v) => v.Labels)]) {
      const owner = labels?.[INSTALL_LABEL];
      if (owner !== undefined && owner !== identity.installId) others.add(owner);
    }
    if (others.size > 0) throw new InstanceClaimedError(identity.instanceId, [...others]);
    this.claimUnchecked = false;
  }

  async check(): Promise<void> {
    if (!(await ping(this.client))) throw new RuntimeError(enableHint(this.config.podmanSocket), "RUNTIME_UNAVAILABLE");
    if (this.claimUnchecked && this.identity) await this.verifyClaim(this.identity);
    if (!this.hostChecked) {
      this.hostChecked = true;
      await this.warnAboutHost();
    }
    // The image rarely disappears; a positive answer is trusted for a few seconds.
    if (Date.now() - this.imageCheckedAt < 5000) return;
    if (!(await imageExists(this.client, this.config.sandboxImage))) {
      throw new RuntimeError(`Sandbox image ${this.config.sandboxImage} is missing`, "SANDBOX_IMAGE_MISSING");
    }
    this.imageCheckedAt = Date.now();
  }

  async create(sessionId: string, launch: SandboxLaunch): Promise<void> {
    const volume = volumeName(sessionId);
    try {
      // A volume left by an earlier failure must not hand old credentials to a new session.
      await removeVolume(this.client, volume, { force: true });
      await createVolume(this.client, { name: volume, labels: this.labels(sessionId) });
      await this.createAndStart(sessionId, launch);
    } catch (err) {
      await this.remove(sessionId).catch(() => {});
      throw this.wrap(err, "create the sandbox");
    }
  }

  async start(sessionId: string, launch: SandboxLaunch): Promise<void> {
    try {
      // Re-created, not restarted: a stopped container's environment (its channel token) is
      // fixed, while the volume with the auth state is what must survive.
      await removeContainer(this.client, containerName(sessionId), { force: true });
      if (!(await volumeExists(this.client, volumeName(sessionId)))) {
        await createVolume(this.client, { name: volumeName(sessionId), labels: this.labels(sessionId) });
      }
      await this.createAndStart(sessionId, launch);
    } catch (err) {
      await removeContainer(this.client, containerName(sessionId), { force: true }).catch(() => {});
      throw this.wrap(err, "start the sandbox");
    }
  }

  async stop(sessionId: string): Promise<void> {
    try {
      await stopContainer(this.client, containerName(sessionId), { timeout: STOP_TIMEOUT_S });
    } catch (err) {
      if (err instanceof PodmanNotFoundError) return;
      throw this.wrap(err, "stop the sandbox");
    }
  }

  async remove(sessionId: string): Promise<void> {
    try {
      await removeContainer(this.client, containerName(sessionId), { force: true });
      await removeVolume(this.client, volumeName(sessionId), { force: true });
    } catch (err) {
      throw this.wrap(err, "remove the sandbox");
    }
  }

  async resetData(sessionId: string): Promise<void> {
    try {
      await removeContainer(this.client, containerName(sessionId), { force: true });
      await removeVolume(this.client, volumeName(sessionId), { force: true });
      await createVolume(this.client, { name: volumeName(sessionId), labels: this.labels(sessionId) });
    } catch (err) {
      throw this.wrap(err, "reset the sandbox's data");
    }
  }

  async list(): Promise<RuntimeSandbox[]> {
    const boxes = await listContainers(this.client, { all: true, labels: [this.instanceFilter()] });
    return boxes
      .filter((b) => b.Labels?.[SESSION_LABEL] && this.isOurs(b.Labels))
      .map((b) => ({ sessionId: b.Labels![SESSION_LABEL]!, containerId: b.Id, running: b.State === "running", state: b.State }));
  }

  async isRunning(sessionId: string): Promise<boolean> {
    try {
      return (await inspectContainer(this.client, containerName(sessionId))).State.Running;
    } catch (err) {
      if (err instanceof PodmanNotFoundError) return false;
      throw this.wrap(err, "inspect the sandbox");
    }
  }

  async exists(sessionId: string): Promise<boolean> {
    return containerExists(this.client, containerName(sessionId));
  }

  watch(onEvent: (event: RuntimeEvent) => void): () => void {
    const abort = new AbortController();
    // `since` has whole-second precision; events from before this watch began are dropped by
    // their nanosecond time, so a restarted API does not act on its predecessor's events.
    const startedNs = BigInt(Date.now()) * 1_000_000n;
    let since = Math.floor(Date.now() / 1000);
    let lost = false;
    const follow = async () => {
      while (!abort.signal.aborted) {
        try {
          await followEvents(this.client, {
            onOpen: () => {
              if (lost) onEvent({ kind: "resumed" });
              lost = false;
            },
            filters: { type: ["container"], label: [this.instanceFilter()], event: ["died", "remove", "start"] },
            since,
            signal: abort.signal,
            onEvent: (e) => {
              if (e.timeNano !== undefined && BigInt(e.timeNano) < startedNs) return;
              since = Math.max(since, e.time ?? since);
              const sessionId = e.Actor?.Attributes?.[SESSION_LABEL];
              if (!sessionId || !this.isOurs(e.Actor.Attributes)) return;
              const action = e.Action ?? e.status;
              if (action === "died") {
                const code = Number(e.Actor.Attributes.containerExitCode);
                onEvent({ kind: "died", sessionId, exitCode: Number.isFinite(code) ? code : undefined });
              } else if (action === "remove") onEvent({ kind: "removed", sessionId });
              else if (action === "start") onEvent({ kind: "started", sessionId });
            },
          });
        } catch (err) {
          if (abort.signal.aborted) return;
          if (!lost) this.log.warn("podman event stream failed; following again", { error: err });
          lost = true;
        }
        // However it ended, events may have been missed until the next stream opens.
        lost = true;
        if (!abort.signal.aborted) await sleep(1000);
      }
    };
    void follow();
    return () => abort.abort();
  }

  private async createAndStart(sessionId: string, launch: SandboxLaunch): Promise<void> {
    await createContainer(this.client, this.spec(sessionId, launch));
    await startContainer(this.client, containerName(sessionId));
    this.log.info("sandbox container started", { sessionId, image: this.config.sandboxImage });
  }

  /** The container of a session: nothing of the host but its volume and the sockets it needs. */
  spec(sessionId: string, launch: SandboxLaunch): ContainerSpec {
    const network = this.config.sandboxNetwork;
    return {
      name: containerName(sessionId),
      image: this.config.sandboxImage,
      labels: this.labels(sessionId),
      env: launch.env,
      user: SANDBOX_USER,
      cap_drop: ["ALL"],
      no_new_privileges: true,
      read_only_filesystem: true,
      mounts: [
        { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["rw", "nosuid", "nodev", "noexec", "size=16m", "mode=1777"] },
        ...launch.binds.map((b) => ({ destination: b.containerPath, type: "bind" as const, source: b.hostPath, options: ["rbind", "rw", "nosuid", "nodev", "noexec"] })),
      ],
      // "U" gives the fresh volume to the container's non-root user.
      volumes: [{ Name: volumeName(sessionId), Dest: "/data", Options: ["U"] }],
      resource_limits: {
        memory: { limit: this.config.sandboxMemory, swap: this.config.sandboxMemory },
        pids: { limit: this.config.sandboxPids },
        cpu: { shares: this.config.sandboxCpuShares },
      },
      // A tiny init as PID 1: a SIGTERM that arrives before the sandbox installed its handler
      // still ends it (PID 1 ignores unhandled signals), so stops never wait out the timeout.
      init: true,
      restart_policy: "on-failure",
      restart_tries: 5,
      stop_timeout: STOP_TIMEOUT_S,
      ...(network ? { netns: network.includes(":") ? { nsmode: network.split(":")[0]!, value: network.split(":").slice(1).join(":") } : { nsmode: network } } : {}),
    };
  }

  private labels(sessionId: string): Record<string, string> {
    const labels: Record<string, string> = { [SESSION_LABEL]: sessionId, [INSTANCE_LABEL]: this.requireInstanceId() };
    if (this.identity) labels[INSTALL_LABEL] = this.identity.installId;
    return labels;
  }

  private requireInstanceId(): string {
    const id = this.instanceId;
    if (!id) throw new RuntimeError("The API's instance identity is not resolved yet (claim() runs at start)", "RUNTIME_FAILED");
    return id;
  }

  private instanceFilter(): string {
    return `${INSTANCE_LABEL}=${this.requireInstanceId()}`;
  }

  /** Containers made before installs were labelled carry no install label and stay ours. */
  private isOurs(labels: Record<string, string> | null | undefined): boolean {
    const owner = labels?.[INSTALL_LABEL];
    return !this.identity || owner === undefined || owner === this.identity.installId;
  }

  /** Once per process: a warning where the store is vfs, and one where the engine cannot enforce the limits we set. */
  private async warnAboutHost(): Promise<void> {
    try {
      const { host, store } = await info(this.client);
      const storage = storageWarning(store);
      if (storage) this.log.warn(storage, { storageDriver: store.graphDriverName });
      const unenforced = unenforcedLimits(host);
      if (unenforced.length === 0) return;
      this.log.warn(
        "container resource limits are not enforced on this host: SANDBOX_MEMORY, SANDBOX_PIDS and SANDBOX_CPU_SHARES have no effect; " +
          "run rootless Podman on cgroup v2 with the memory, pids and cpu controllers delegated to this user",
        { cgroupVersion: host.cgroupVersion, rootless: host.security.rootless, unenforced },
      );
    } catch (err) {
      this.log.debug("could not read the engine's cgroup setup", { error: err });
    }
  }

  private wrap(err: unknown, what: string): RuntimeError {
    if (err instanceof RuntimeError) return err;
    if (err instanceof PodmanUnavailableError) return new RuntimeError(enableHint(this.config.podmanSocket), "RUNTIME_UNAVAILABLE");
    if (err instanceof PodmanError) {
      if (err.status === 404 && /image/i.test(err.message)) {
        return new RuntimeError(`Sandbox image ${this.config.sandboxImage} is missing`, "SANDBOX_IMAGE_MISSING");
      }
      return new RuntimeError(`Podman could not ${what}: ${err.message}`, "RUNTIME_FAILED");
    }
    return new RuntimeError(`Could not ${what}: ${err instanceof Error ? err.message : String(err)}`, "RUNTIME_FAILED");
  }
}
