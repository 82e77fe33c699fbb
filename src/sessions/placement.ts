// Where sessions run, as the session domain sees it: this node's id, the node a new session
// goes to, and a way to tell a node it was handed sessions. One node alone (PGlite, or a
// PostgreSQL that no other node shares) places everything on itself.

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
