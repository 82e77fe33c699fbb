// The nodes sharing the database, as this node knows them: its heartbeat (a row in `nodes`
// whose `last_seen` it renews), the others' states from their rows, where new sessions go, and
// a nudge through NOTIFY when a node is handed sessions. A node not seen for NODE_DEAD_SECONDS
// is dead; the live ones adopt its sessions (sessions/handovers.ts).
import type { PubSub } from "../db/client";
import type { NodeRepository, NodeSelf, NodeView } from "../db/node-repository";
import type { Logger } from "../log";
import { bestNode, type Placement } from "../sessions/placement";

/** The NOTIFY channel that wakes a node (payload: its id) when sessions were handed to it. */
const WAKE_CHANNEL = "wa_node_wake";

export interface NodeRegistryOptions {
  repo: NodeRepository;
  self: NodeSelf;
  deadSeconds: number;
  pubsub: PubSub | null;
  /** PGlite: this node is the only one there can be. */
  alone: boolean;
  log: Logger;
}

export class NodeRegistry implements Placement {
  readonly self: string;
  private views: NodeView[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private unlisten: (() => Promise<void>) | null = null;
  /** When a heartbeat last reached the database. */
  private lastBeatAt = Date.now();
  /** Since when every heartbeat got through (null after one failed, until the next one does). */
  private steadySince: number | null = Date.now();
  private readonly listeners: (() => void)[] = [];
  readonly beatMs: number;
  readonly capacity: number;
  private readonly lostListeners: (() => void)[] = [];
  /** Told already that the database is out of reach (once until a heartbeat gets through). */
  private lost = false;
  private beating = false;

  constructor(private readonly o: NodeRegistryOptions) {
    this.self = o.self.id;
    this.capacity = o.self.capacity;
    // Several beats within the dead time: one lost statement does not make a node dead.
    this.beatMs = Math.max(1000, Math.min(5000, Math.floor((o.deadSeconds * 1000) / 6)));
  }

  /**
   * Registers this node (live) and its sessions from before nodes (`local`: the sessions whose
   * containers its engine holds); then beats until stopped.
   */
  async start(local: string[]): Promise<void> {
    await this.o.repo.register(this.o.self);
    // One node alone owns every session (its id may have changed); among several, a node owns
    // what it runs of the sessions that have no live node.
    const claimed = this.o.alone
      ? await this.o.repo.claimAll(this.self)
      : (await this.o.repo.claimUnowned(this.self, local)) + (await this.o.repo.claimHeld(this.self, local, this.o.deadSeconds));
    if (claimed > 0) this.o.log.info("sessions without a live node that this node runs are its own", { node: this.self, sessions: claimed });
    await this.refresh();
    if (this.o.pubsub) {
      this.unlisten = await this.o.pubsub.listen(WAKE_CHANNEL, (payload) => {
        if (payload === this.self) this.notify();
      });
    }
    this.timer = setInterval(() => {
      // Judged on every tick, not only when a heartbeat fails: a hung connection fails nothing.
      this.checkLost();
      if (!this.beating) void this.beat();
    }, this.beatMs);
    this.timer.unref?.();
    this.o.log.info("node registered", { node: this.self, url: this.o.self.url, capacity: this.o.self.capacity, others: this.views.length - 1 });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.unlisten?.().catch(() => {});
  }

  /** Called after each heartbeat and each nudge: the handovers' pass. */
  onTick(listener: () => void): void {
    this.listeners.push(listener);
  }

  /**
   * Called once the heartbeat has failed for half the dead time while other nodes share the
   * database: they may soon adopt this node's sessions (handovers.ts stops its sandboxes).
   */
  onLost(listener: () => void): void {
    this.lostListeners.push(listener);
  }

  /** The nodes as of the last heartbeat. */
  get nodes(): readonly NodeView[] {
    return this.views;
  }

  /**
   * Whether this node's heartbeats have got through for a whole NODE_DEAD_SECONDS: only then may
   * it judge others dead (after a database outage, the others need that long to be seen again).
   */
  get steady(): boolean {
    return this.steadySince !== null && Date.now() - this.steadySince >= this.o.deadSeconds * 1000;
  }

  /** Milliseconds since a heartbeat last reached the database. */
  get sinceBeat(): number {
    return Date.now() - this.lastBeatAt;
  }

  /** The node with this id if it is not dead (a call for its session goes there). */
  reachable(id: string): NodeView | null {
    const view = this.views.find((v) => v.id === id);
    return view && view.state !== "dead" ? view : null;
  }

  /** Every node now, from the database. */
  list(): Promise<NodeView[]> {
    return this.o.repo.list(this.o.deadSeconds);
  }

  async place(): Promise<{ node: string; capacity: number } | null> {
    return bestNode(await this.list(), this.self);
  }

  wake(node: string): void {
    if (node === this.self) return this.notify();
    this.o.pubsub?.notify(WAKE_CHANNEL, node).catch((err) => this.o.log.warn("node not woken", { node, error: err }));
  }

  async setState(id: string, state: "live" | "draining"): Promise<boolean> {
    const changed = await this.o.repo.setState(id, state);
    if (changed) await this.refresh();
    return changed;
  }

  private async beat(): Promise<void> {
    this.beating = true;
    try {
      // Bounded: a database that does not answer counts as one that refused.
      const row = await withTimeout(this.o.repo.beat(this.self), this.beatMs * 2);
      // Removed by hand while it ran: it registers again.
      if (!row) await this.o.repo.register(this.o.self);
      this.lastBeatAt = Date.now();
      this.steadySince ??= Date.now();
      this.lost = false;
      await withTimeout(this.refresh(), this.beatMs * 2);
      this.notify();
    } catch (err) {
      this.steadySince = null;
      this.o.log.warn("node heartbeat failed", { node: this.self, sinceBeatMs: this.sinceBeat, error: err });
      this.checkLost();
    } finally {
      this.beating = false;
    }
  }

  /** Out of touch for half the dead time while other nodes share the database: told once. */
  private checkLost(): void {
    const others = this.views.some((v) => v.id !== this.self && v.state !== "dead");
    if (this.lost || !others || this.sinceBeat <= (this.o.deadSeconds * 1000) / 2) return;
    this.lost = true;
    for (const listener of this.lostListeners) listener();
  }

  private async refresh(): Promise<void> {
    this.views = await this.list();
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the database in ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
