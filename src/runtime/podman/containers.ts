// Containers: the libpod calls we use, with an options type per call.
import type { PodmanClient } from "./client";

export interface Mount {
  destination: string;
  type: "bind" | "tmpfs";
  source: string;
  options?: string[];
}

export interface NamedVolume {
  Name: string;
  Dest: string;
  Options?: string[];
}

/** The part of libpod's SpecGenerator that we set. */
export interface ContainerSpec {
  name: string;
  image: string;
  labels?: Record<string, string>;
  env?: Record<string, string>;
  user?: string;
  cap_drop?: string[];
  no_new_privileges?: boolean;
  read_only_filesystem?: boolean;
  mounts?: Mount[];
  volumes?: NamedVolume[];
  resource_limits?: {
    memory?: { limit?: number; swap?: number };
    pids?: { limit: number };
    cpu?: { shares?: number };
  };
  restart_policy?: "no" | "on-failure" | "always" | "unless-stopped";
  restart_tries?: number;
  netns?: { nsmode: string; value?: string };
  stop_timeout?: number;
  /** Run Podman's init (catatonit) as PID 1 to forward signals and reap children. */
  init?: boolean;
  /** Arguments after the image's entrypoint (sessions give none). */
  command?: string[];
  selinux_opts?: string[];
}

export interface CreateResult {
  Id: string;
  Warnings: string[];
}

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  State: string;
  Labels: Record<string, string> | null;
  ExitCode: number;
  Exited: boolean;
}

/** The fields of `inspect` we read (libpod returns many more). */
export interface ContainerInspect {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; ExitCode: number; Pid: number };
  Config: { Labels: Record<string, string> | null; Env: string[]; User: string; Image: string };
  HostConfig: {
    CapDrop: string[] | null;
    CapAdd: string[] | null;
    ReadonlyRootfs: boolean;
    SecurityOpt: string[] | null;
    Memory: number;
    PidsLimit: number;
    CpuShares: number;
    NetworkMode: string;
    RestartPolicy: { Name: string; MaximumRetryCount: number };
    Tmpfs: Record<string, string> | null;
    Binds: string[] | null;
  };
  Mounts: { Type: string; Name?: string; Source: string; Destination: string; RW: boolean }[];
  EffectiveCaps: string[] | null;
}

export interface ListOptions {
  all?: boolean;
  labels?: string[];
  names?: string[];
}

export async function createContainer(client: PodmanClient, spec: ContainerSpec): Promise<CreateResult> {
  return client.json<CreateResult>("POST", "/containers/create", { body: spec });
}

export async function startContainer(client: PodmanClient, nameOrId: string): Promise<void> {
  // 304: already running, which is what the caller wanted.
  await client.empty("POST", `/containers/${encodeURIComponent(nameOrId)}/start`, { accept: [304] });
}

export async function stopContainer(client: PodmanClient, nameOrId: string, opts: { timeout?: number } = {}): Promise<void> {
  await client.empty("POST", `/containers/${encodeURIComponent(nameOrId)}/stop`, { query: { timeout: opts.timeout }, accept: [304] });
}

export async function killContainer(client: PodmanClient, nameOrId: string, opts: { signal?: string } = {}): Promise<void> {
  await client.empty("POST", `/containers/${encodeURIComponent(nameOrId)}/kill`, { query: { signal: opts.signal ?? "SIGKILL" } });
}

/** Removes a container; false when there was none. */
export async function removeContainer(client: PodmanClient, nameOrId: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<boolean> {
  return client.found("DELETE", `/containers/${encodeURIComponent(nameOrId)}`, { query: { force: opts.force ?? true, v: opts.volumes ?? false } });
}

export async function inspectContainer(client: PodmanClient, nameOrId: string): Promise<ContainerInspect> {
  return client.json<ContainerInspect>("GET", `/containers/${encodeURIComponent(nameOrId)}/json`);
}

export async function containerExists(client: PodmanClient, nameOrId: string): Promise<boolean> {
  return client.found("GET", `/containers/${encodeURIComponent(nameOrId)}/exists`);
}

export async function listContainers(client: PodmanClient, opts: ListOptions = {}): Promise<ContainerSummary[]> {
  const filters: Record<string, string[]> = {};
  if (opts.labels?.length) filters.label = opts.labels;
  if (opts.names?.length) filters.name = opts.names;
  return client.json<ContainerSummary[]>("GET", "/containers/json", { query: { all: opts.all ?? true, filters } });
}

