// Which containers are this API's. Every installation gets an id at its first start, kept in its
// database (`settings.install_id`); INSTANCE_ID, when unset, is derived from it, so two default
// installs under one Podman user never share a label. Containers and volumes carry both labels,
// and an install refuses to start where Podman holds containers of its instance id that another
// install made: its reconcile would otherwise delete that install's sessions.
import { randomUUID } from "node:crypto";
import type { Db } from "../db/client";
import { SettingsRepository } from "../db/settings-repository";
import type { Logger } from "../log";
import { RuntimeError, type InstanceIdentity, type SessionRuntime } from "./types";

export type { InstanceIdentity };

export const INSTALL_ID_SETTING = "install_id";

export function defaultInstanceId(installId: string): string {
  return `i-${installId.replace(/-/g, "").slice(0, 12)}`;
}

export async function resolveIdentity(db: Db, configuredInstanceId: string | undefined): Promise<InstanceIdentity> {
  const installId = await new SettingsRepository(db).getOrCreate(INSTALL_ID_SETTING, randomUUID);
  return { installId, instanceId: configuredInstanceId ?? defaultInstanceId(installId) };
}

/** Another installation's containers or volumes carry this instance id. */
export class InstanceClaimedError extends RuntimeError {
  constructor(
    readonly instanceId: string,
    readonly otherInstallIds: string[],
  ) {
    super(
      `INSTANCE_ID "${instanceId}" is claimed by another installation (install ${otherInstallIds.join(", ")}): ` +
        "Podman holds its containers under this instance id. Give this API its own INSTANCE_ID " +
        "(or leave it unset for one derived from this installation).",
      "INSTANCE_CLAIMED",
    );
  }
}

/**
 * At start, before any reconcile: resolves this API's identity and has the runtime adopt it.
 * Throws InstanceClaimedError when another installation owns the instance id.
 */
export async function claimInstance(db: Db, runtime: SessionRuntime, configuredInstanceId: string | undefined, log: Logger): Promise<InstanceIdentity> {
  const identity = await resolveIdentity(db, configuredInstanceId);
  await runtime.claim(identity);
  log.info("instance identity", { ...identity });
  return identity;
}
