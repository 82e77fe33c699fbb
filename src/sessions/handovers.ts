// Sessions that change node. A session is handed to a node (made there by another node, moved,
// drained, or adopted from a dead node) by writing its new owner and a `handover` reason; the new
// owner then clears what its engine may hold of an older copy, and launches the session from the
// auth state mirrored in the database (no new QR). Before anything else, each pass removes the
// containers of sessions this node no longer owns (a node back from the dead, or partitioned,
// must never run a session another node runs: WhatsApp would log one of them out).
import { randomUUID } from "node:crypto";
import type { NodeRepository, NodeView } from "../db/node-repository";
import type { SessionRow } from "../db/schema";
import { isLive } from "../model/session-states";
import { bestNode } from "./placement";
import { relaunch, type SessionCoreDeps } from "./runtime-sync";
import { runtimeFailure } from "./runtime-errors";
import { SessionError, sessionErrors } from "./errors";
import type { Limiter } from "../limits";
import { sessionStates } from "../model/session-states";

/** Sessions adopted, launched or moved off in one pass: a dead node's sessions come back a few at a time. */
const BATCH = 5;

export interface HandoverDeps extends SessionCoreDeps {
  nodes: NodeRepository;
  self: string;
  /** NODE_CAPACITY: adoption stops there. */
  capacity: number;
  deadSeconds: number;
  /** Where containers wait for their turn (shared with new sessions'). */
  creates: Limiter;
  /** Sessions whose sandbox stops for a move: runtime-sync.ts does not fail them for it. */
  leaving: Set<string>;
  /** The nodes as of the last heartbeat. */
  cluster: () => readonly NodeView[];
  /** Whether this node's own heartbeats have got through for NODE_DEAD_SECONDS (else it adopts nothing). */
  steady: () => boolean;
  /** Tells a node it was handed sessions. */
  wake: (node: string) => void;
}

export class Handovers {
  private pass: Promise<void> | null = null;
  private again = false;
  /** Sessions a drain could not move just now. */
  private readonly unmovable = new Set<string>();
  /** Sessions whose containers this node stopped when it lost the database (self-fencing). */
  private readonly fencedSelf = new Set<string>();

  constructor(private readonly d: HandoverDeps) {}

  /** One pass (passes never overlap: one asked for during a pass runs after it). */
  run(): Promise<void> {
    if (this.pass) {
      this.again = true;
      return this.pass;
    }
    this.pass = (async () => {
      do {
        this.again = false;
        try {
          await this.fence();
          await this.resumeSelfFenced();
          // Another batch goes at once while there are more: the sessions come back a few at a time, not one pass per heartbeat.
          if ((await this.adopt()) > 0) this.again = true;
          await this.launchHanded();
          if ((await this.drain()) > 0) this.again = true;
        } catch (err) {
          this.d.log.warn("handover pass failed", { node: this.d.self, error: err });
        }
      } while (this.again);
    })().finally(() => (this.pass = null));
    return this.pass;
  }

  /** Containers here of sessions another node owns now are removed (with their volumes: the mirror is the truth). */
  async fence(): Promise<number> {
    const boxes = await this.d.runtime.list();
    if (boxes.length === 0) return 0;
    const owners = new Map((await this.d.nodes.owners(boxes.map((b) => b.sessionId))).map((o) => [o.id, o.node]));
    let fenced = 0;
    for (const box of boxes) {
      const owner = owners.get(box.sessionId);
      if (owner === undefined || owner === null || owner === this.d.self) continue;
      await this.d.queues.run(box.sessionId, async () => {
        this.d.link.disconnect(box.sessionId);
        await this.d.runtime.remove(box.sessionId);
      });
      fenced++;
      this.d.log.warn("container of a session another node owns now removed", { sessionId: box.sessionId, node: this.d.self, owner });
    }
    return fenced;
  }

  /**
   * This node lost the database for half the dead time while other nodes share it: they may
   * adopt its sessions soon, so its sandboxes stop now. Back in touch, it starts again those
   * it still owns (the next pass).
   */
  async fenceSelf(): Promise<void> {
    const running = (await this.d.runtime.list()).filter((b) => b.running);
    for (const box of running) {
      this.d.link.disconnect(box.sessionId);
      await this.d.runtime.stop(box.sessionId).catch((err) => this.d.log.warn("sandbox not stopped", { sessionId: box.sessionId, error: err }));
      this.fencedSelf.add(box.sessionId);
    }
    if (running.length > 0) this.d.log.error("database out of reach: this node stopped its sandboxes, as other nodes may adopt them", { node: this.d.self, sandboxes: running.length });
  }

  private async resumeSelfFenced(): Promise<void> {
    for (const id of [...this.fencedSelf]) {
      this.fencedSelf.delete(id);
      await this.d.queues.run(id, async () => {
        const row = await this.d.nodes.byId(id);
        if (!row || row.node !== this.d.self || !isLive(row.state)) return;
        await relaunch(this.d, id);
        this.d.log.info("sandbox started again after the database came back", { sessionId: id });
      });
    }
  }

  /** A live node takes dead nodes' sessions, as many as it has room for, a few per batch. */
  private async adopt(): Promise<number> {
    const me = this.d.cluster().find((n) => n.id === this.d.self);
    // A node just back in touch (or just started) cannot tell a dead node from one not yet seen again.
    if (!me || me.state !== "live" || !this.d.steady()) return 0;
    const room = this.d.capacity - (await this.d.nodes.count(this.d.self));
    const adopted = await this.d.nodes.adopt(this.d.self, this.d.deadSeconds, Math.min(BATCH, room), (from) => `moving from node ${from} (not seen for a while) to node ${this.d.self}`);
    if (adopted.length > 0) this.d.log.warn("sessions of a dead node adopted", { node: this.d.self, sessions: adopted.map((s) => s.id) });
    return adopted.length;
  }

  /** Sessions handed to this node: launched here from the mirrored auth state. */
  private async launchHanded(): Promise<void> {
    const rows = await this.d.nodes.handedTo(this.d.self, BATCH * 4);
    // Containers made a few at once, as new sessions' are (SANDBOX_CREATE_CONCURRENCY).
    await Promise.all(rows.map((row) => this.d.creates.run(() => this.d.queues.run(row.id, () => this.launchOne(row.id)))));
  }

  private async launchOne(id: string): Promise<void> {
    const { runtime, transitions, log } = this.d;
    // Fresh from the database (not a cached row): the handover may have been settled meanwhile.
    const current = await this.d.nodes.byId(id);
    if (!current || current.node !== this.d.self || current.handover === null) return;
    const why = current.handover;
    try {
      if (!isLive(current.state) && current.state !== "creating") {
        // Not running anywhere: an older copy here goes; a start later restores the mirror.
        await runtime.remove(id);
      } else {
        const launchId = randomUUID();
        // A session that was linked shows it is on its way (a send meanwhile waits as `pending`).
        const moving = current.state !== "starting" && current.state !== "creating" && current.state !== "disconnected";
        if (moving) await transitions.moveTo(id, "disconnected", why, { launchId }, current);
        else await this.d.repo.update(id, current.state === "disconnected" ? { launchId, stateReason: why } : { launchId });
        // create: a volume left here by an older copy is replaced by an empty one, which the sandbox fills from the mirror.
        await runtime.create(id, await this.d.launch(id, launchId));
        log.info("session launched on this node", { sessionId: id, node: this.d.self, why });
      }
    } catch (err) {
      const failure = runtimeFailure(err, log, "create the sandbox", id);
      await transitions.moveTo(id, "failed", `container could not be created (${failure.code})`, { launchId: null }).catch(() => {});
    } finally {
      await this.d.nodes.settled(id, this.d.self);
    }
  }

  /** A draining node moves its sessions off, a few per pass, each to the live node with the most room. */
  private async drain(): Promise<number> {
    if (this.d.cluster().find((n) => n.id === this.d.self)?.state !== "draining") return 0;
    let moved = 0;
    // One that cannot move now (its engine refused) does not hold up the others; a later pass tries it again.
    for (const id of await this.d.nodes.idsOf(this.d.self, BATCH, [...this.unmovable])) {
      // Fresh counts each time: the last move took a place.
      const target = bestNode(await this.d.nodes.list(this.d.deadSeconds), this.d.self, this.d.self);
      if (!target) {
        this.d.log.warn("drain waits: no live node has room", { node: this.d.self });
        return moved;
      }
      try {
        await this.move(id, target.node, `moving from node ${this.d.self} to node ${target.node} (node drained)`);
        moved++;
      } catch (err) {
        this.unmovable.add(id);
        setTimeout(() => this.unmovable.delete(id), 60_000).unref?.();
        this.d.log.warn("session not moved off the draining node; tried again in a minute", { sessionId: id, error: err });
      }
    }
    return moved;
  }

  /**
   * POST /sessions/{id}/move: the session goes to node `to`. Its owner moves it (the call was
   * forwarded there); a dead owner's session is handed over from here.
   */
  async moveSession(session: SessionRow, to: string): Promise<SessionRow> {
    const target = this.d.cluster().find((n) => n.id === to);
    if (!target) throw new SessionError("NODE_NOT_FOUND", `No node "${to.slice(0, 64)}"`, { node: to.slice(0, 64) });
    if (session.node === to) return session;
    if (target.state !== "live") throw new SessionError("NODE_UNAVAILABLE", `Node ${to} is ${target.state}: it takes no session`, { node: to, nodeState: target.state });
    if (target.sessions >= target.capacity) throw new SessionError("NODE_UNAVAILABLE", `Node ${to} runs as many sessions as it may (${target.capacity})`, { node: to });
    if (session.state === "creating") throw sessionErrors.wrongState("move the session", session.state, movable);
    const from = session.node ?? this.d.self; // a session from before nodes, unclaimed: wherever it is asked
    const why = `moving from node ${from} to node ${to} (moved by request)`;
    if (from === this.d.self) return this.move(session.id, to, why);
    const owner = this.d.cluster().find((n) => n.id === from);
    if (owner && owner.state !== "dead") {
      throw sessionErrors.onOtherNode(from, "which did not take the call");
    }
    // Its node is dead: nothing runs the session there, and that node fences it if it comes back.
    const moved = await this.d.nodes.handTo(session.id, from, to, why);
    if (!moved) throw sessionErrors.ownerChanged();
    this.d.repo.forget(session.id);
    this.d.wake(to);
    return moved;
  }

  /**
   * Moves one of this node's sessions to `to`: its sandbox stops (sending what it has not
   * reported yet, its auth state among it), its container and volume go, and `to` is told.
   */
  async move(id: string, to: string, why: string): Promise<SessionRow> {
    const mine = (row: SessionRow) => row.node === null || row.node === this.d.self;
    const before = await this.d.nodes.byId(id);
    if (!before) throw sessionErrors.notFound(id);
    if (before.node === to) return before;
    if (!mine(before)) throw sessionErrors.onOtherNode(before.node, "not on this one");
    // Stopped outside the session's queue: the sandbox's last reports (its auth state among them)
    // are stored in that queue while it stops. Its container's exit is not a failure meanwhile.
    this.d.leaving.add(id);
    try {
      await this.d.runtime.stop(id).catch((err) => {
        throw runtimeFailure(err, this.d.log, "stop the sandbox for its move", id);
      });
      return await this.d.queues.run(id, async () => {
        const current = await this.d.nodes.byId(id);
        if (!current) throw sessionErrors.notFound(id);
        if (!mine(current)) throw sessionErrors.ownerChanged();
        this.d.link.disconnect(id);
        await this.d.runtime.remove(id).catch((err) => {
          throw runtimeFailure(err, this.d.log, "remove the sandbox for its move", id);
        });
        // A linked session shows it is on its way; a send meanwhile waits as `pending`.
        if (isLive(current.state) && current.state !== "starting") await this.d.transitions.moveTo(id, "disconnected", why, { launchId: null }, current);
        const moved = await this.d.nodes.handTo(id, current.node, to, why);
        if (!moved) throw sessionErrors.ownerChanged();
        this.d.repo.forget(id);
        this.d.log.info("session handed to another node", { sessionId: id, from: this.d.self, to, why });
        this.d.wake(to);
        return moved;
      });
    } finally {
      this.d.leaving.delete(id);
    }
  }
}

/** Every state but `creating` (its container is being made where it was placed). */
const movable = sessionStates.filter((s) => s !== "creating");
