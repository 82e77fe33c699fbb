// The seam between the session service and whatever runs sandboxes. The service decides
// *what* should happen to a session; a runtime only makes containers match that.

/** Which installation made a container: its labels say so, and a runtime claims the engine for one. */
export interface InstanceIdentity {
  /** Random UUID made at this installation's first start. */
  installId: string;
  /** INSTANCE_ID, or `i-` and the install id's first 12 hex digits. */
  instanceId: string;
}

export interface SandboxLaunch {
  /** Environment of the sandbox process (session id, channel address and token, WhatsApp URL). */
  env: Record<string, string>;
  /** Host paths bind-mounted into the container (unix sockets of the channel and the emulator). */
  binds: { hostPath: string; containerPath: string }[];
}

export interface RuntimeSandbox {
  sessionId: string;
  containerId: string;
  running: boolean;
  /** Container state as the engine names it (created, running, exited, ...). */
  state: string;
}

export type RuntimeEvent =
  | { kind: "died"; sessionId: string; exitCode?: number }
  | { kind: "removed"; sessionId: string }
  | { kind: "started"; sessionId: string }
  /** The engine's events flow again after they were lost (engine restarted or was down): what happened meanwhile is unknown. */
  | { kind: "resumed" };

export class RuntimeError extends Error {
  constructor(
    message: string,
    /** Machine code: SANDBOX_IMAGE_MISSING, RUNTIME_UNAVAILABLE, RUNTIME_FAILED, ... */
    readonly code: string,
  ) {
    super(message);
  }
}

export interface SessionRuntime {
  /**
   * Adopts this API's identity (labels of what it creates, filter of what it lists) at start.
   * Throws InstanceClaimedError when the engine holds this instance's containers made by another
   * installation; when the engine does not answer, that check waits for the next check().
   */
  claim(identity: InstanceIdentity): Promise<void>;
  /** Checks that the engine answers and the sandbox image exists; throws RuntimeError otherwise. */
  check(): Promise<void>;
  /** Creates the session's volume and container and starts it; leaves nothing behind on failure. */
  create(sessionId: string, launch: SandboxLaunch): Promise<void>;
  /** Starts the session's container again (re-created with this launch, keeping the volume). */
  start(sessionId: string, launch: SandboxLaunch): Promise<void>;
  /** Stops the container gracefully; the volume and its files stay. */
  stop(sessionId: string): Promise<void>;
  /** Removes container and volume. Missing pieces are not an error. */
  remove(sessionId: string): Promise<void>;
  /** Empties the session's auth state (logout): the volume is replaced by an empty one. */
  resetData(sessionId: string): Promise<void>;
  /** Sandboxes of this API instance. */
  list(): Promise<RuntimeSandbox[]>;
  /** Whether the session's container is running right now. */
  isRunning(sessionId: string): Promise<boolean>;
  /** Follows the engine's events for this instance's containers until the returned stop is called. */
  watch(onEvent: (event: RuntimeEvent) => void): () => void;
}
