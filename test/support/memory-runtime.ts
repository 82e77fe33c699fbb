// The SessionRuntime and SandboxLink seams played in memory, for unit tests of the session
// domain: containers are entries in a map, and every call is recorded with when it began and
// ended, so a test can see whether two operations on one session overlapped.
import type { SandboxLink } from "../../src/channel/link";
import type { SandboxRequest, SandboxResponse } from "../../src/channel/frames";
import { RuntimeError, type RuntimeEvent, type RuntimeSandbox, type SandboxLaunch, type SessionRuntime } from "../../src/runtime/types";

export interface RuntimeCall {
  op: string;
  sessionId: string;
  begin: number;
  end?: number;
}

export class MemoryRuntime implements SessionRuntime {
  readonly containers = new Map<string, { running: boolean; launch: SandboxLaunch }>();
  readonly volumes = new Set<string>();
  readonly calls: RuntimeCall[] = [];
  /** How long each operation takes. */
  delayMs = 0;
  /** While true, every call fails as an engine that does not answer. */
  down = false;
  private listeners: ((e: RuntimeEvent) => void)[] = [];
  private clock = 0;

  private async op<T>(op: string, sessionId: string, work: () => T): Promise<T> {
    const call: RuntimeCall = { op, sessionId, begin: ++this.clock };
    this.calls.push(call);
    if (this.delayMs) await Bun.sleep(this.delayMs);
    call.end = ++this.clock;
    if (this.down) throw new RuntimeError("engine socket /run/secret/podman.sock does not answer", "RUNTIME_UNAVAILABLE");
    return work();
  }

  async claim(): Promise<void> {}

  async check(): Promise<void> {
    if (this.down) throw new RuntimeError("engine socket /run/secret/podman.sock does not answer", "RUNTIME_UNAVAILABLE");
  }
  create(id: string, launch: SandboxLaunch) {
    return this.op("create", id, () => {
      this.volumes.add(id);
      this.containers.set(id, { running: true, launch });
    });
  }
  start(id: string, launch: SandboxLaunch) {
    return this.op("start", id, () => {
      this.volumes.add(id);
      this.containers.set(id, { running: true, launch });
    });
  }
  stop(id: string) {
    return this.op("stop", id, () => {
      const c = this.containers.get(id);
      if (c) c.running = false;
    });
  }
  remove(id: string) {
    return this.op("remove", id, () => {
      this.containers.delete(id);
      this.volumes.delete(id);
    });
  }
  resetData(id: string) {
    return this.op("resetData", id, () => {
      this.containers.delete(id);
    });
  }
  async list(): Promise<RuntimeSandbox[]> {
    return [...this.containers].map(([sessionId, c]) => ({ sessionId, containerId: sessionId, running: c.running, state: c.running ? "running" : "exited" }));
  }
  async isRunning(id: string): Promise<boolean> {
    return this.containers.get(id)?.running ?? false;
  }
  watch(onEvent: (e: RuntimeEvent) => void): () => void {
    this.listeners.push(onEvent);
    return () => (this.listeners = this.listeners.filter((l) => l !== onEvent));
  }
  /** The container dies by itself (killed, crashed). */
  kill(id: string): void {
    const c = this.containers.get(id);
    if (c) c.running = false;
    for (const l of this.listeners) l({ kind: "died", sessionId: id, exitCode: 137 });
  }
  /** Whether any two recorded calls on one session overlapped in time. */
  overlapped(sessionId: string): boolean {
    const mine = this.calls.filter((c) => c.sessionId === sessionId);
    return mine.some((a, i) => mine.some((b, j) => i !== j && a.begin < b.begin && b.begin < (a.end ?? Infinity)));
  }
}

/** A link whose sandbox answers with whatever the test sets (or nothing: not connected). */
export class MemoryLink implements SandboxLink {
  connected = new Set<string>();
  answer: (sessionId: string, req: SandboxRequest) => Promise<unknown> = async () => ({});
  readonly disconnected: string[] = [];

  isConnected(id: string): boolean {
    return this.connected.has(id);
  }
  async waitForConnection(id: string): Promise<boolean> {
    return this.connected.has(id);
  }
  request<R extends SandboxRequest>(id: string, req: R): Promise<SandboxResponse<R>> {
    return this.answer(id, req) as Promise<SandboxResponse<R>>;
  }
  disconnect(id: string): void {
    this.connected.delete(id);
    this.disconnected.push(id);
  }
}
