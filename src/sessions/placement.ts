// Where sessions run, as the session domain sees it: this node's id, the node a new session
// goes to, and a way to tell a node it was handed sessions. One node alone (PGlite, or a
// PostgreSQL that no other node shares) places everything on itself.
import type { NodeView } from "../db/node-repository";

export interface Placement {
  /** This node's id. */
  readonly self: string;
  /** The node a new session goes to (the live one with the most free places) and its capacity; null when every node is full. */
  place(): Promise<{ node: string; capacity: number } | null>;
  /** Tells a node it has sessions to launch (it also finds them by itself within seconds). */
  wake(node: string): void;
}

/** Everything on this node, up to its capacity (counted by the create's insert). */
export function singleNode(self: string, capacity: number): Placement {
  return { self, place: async () => ({ node: self, capacity }), wake: () => {} };
}

/** The live node with the most free places (this one on a tie); null when all are full. */
export function bestNode(nodes: readonly NodeView[], self: string, except?: string): { node: string; capacity: number } | null {
  let best: NodeView | null = null;
  for (const n of nodes) {
    if (n.state !== "live" || n.id === except || n.capacity - n.sessions <= 0) continue;
    const free = n.capacity - n.sessions;
    const bestFree = best ? best.capacity - best.sessions : -1;
    if (free > bestFree || (free === bestFree && n.id === self)) best = n;
  }
  return best ? { node: best.id, capacity: best.capacity } : null;
}
