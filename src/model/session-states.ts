// The contract's nine session states and the only transitions between them. Every state write
// goes through `canTransition`, so an impossible move (say `stopped` -> `ready`) is refused.

export const sessionStates = ["creating", "starting", "qr_ready", "connecting", "ready", "disconnected", "failed", "stopped", "logged_out"] as const;
export type SessionState = (typeof sessionStates)[number];

const transitions: Record<SessionState, readonly SessionState[]> = {
  // The container is being made; it either starts or fails to.
  creating: ["starting", "failed"],
  // The sandbox talks to WhatsApp: it shows a QR, or reconnects with saved credentials.
  starting: ["qr_ready", "connecting", "ready", "disconnected", "failed", "stopped", "logged_out"],
  qr_ready: ["connecting", "ready", "disconnected", "failed", "stopped", "logged_out"],
  connecting: ["qr_ready", "ready", "disconnected", "failed", "stopped", "logged_out"],
  ready: ["connecting", "disconnected", "failed", "stopped", "logged_out"],
  disconnected: ["qr_ready", "connecting", "ready", "failed", "stopped", "logged_out"],
  // A failed sandbox may be brought back by the container's restart policy (its reports then
  // move the session on), be started again by a user, or be stopped.
  failed: ["starting", "qr_ready", "connecting", "ready", "disconnected", "stopped", "logged_out"],
  stopped: ["starting"],
  logged_out: ["starting", "stopped"],
};

export function isSessionState(value: string): value is SessionState {
  return (sessionStates as readonly string[]).includes(value);
}

/** Staying in the same state is not a transition (a new QR in `qr_ready` is a refresh). */
export function canTransition(from: SessionState, to: SessionState): boolean {
  return transitions[from].includes(to);
}

/** States in which the sandbox should be running (the container is wanted up). */
export const liveStates: readonly SessionState[] = ["starting", "qr_ready", "connecting", "ready", "disconnected"];

export function isLive(state: SessionState): boolean {
  return liveStates.includes(state);
}
