// Named volumes: a session's auth state lives in one.
import type { PodmanClient } from "./client";

export interface VolumeInfo {
  Name: string;
  Mountpoint: string;
  Labels: Record<string, string> | null;
  CreatedAt: string;
}

export async function createVolume(client: PodmanClient, opts: { name: string; labels?: Record<string, string> }): Promise<VolumeInfo> {
  return client.json<VolumeInfo>("POST", "/volumes/create", { body: { Name: opts.name, Label: opts.labels ?? {} } });
}

/** Removes a volume; false when there was none. */
export async function removeVolume(client: PodmanClient, name: string, opts: { force?: boolean } = {}): Promise<boolean> {
  return client.found("DELETE", `/volumes/${encodeURIComponent(name)}`, { query: { force: opts.force ?? false } });
}

export async function volumeExists(client: PodmanClient, name: string): Promise<boolean> {
  return client.found("GET", `/volumes/${encodeURIComponent(name)}/exists`);
}

export async function listVolumes(client: PodmanClient, opts: { labels?: string[] } = {}): Promise<VolumeInfo[]> {
  const filters: Record<string, string[]> = {};
  if (opts.labels?.length) filters.label = opts.labels;
  return client.json<VolumeInfo[]>("GET", "/volumes/json", { query: { filters } });
}
