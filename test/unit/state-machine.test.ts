import { describe, expect, test } from "bun:test";
import { canTransition, isLive, isSessionState, sessionStates, type SessionState } from "../../src/model/session-states";

// The full table, written out independently of the module: every pair of the nine states.
const allowed: Record<SessionState, SessionState[]> = {
  creating: ["starting", "failed"],
  starting: ["qr_ready", "connecting", "ready", "disconnected", "failed", "stopped", "logged_out"],
  qr_ready: ["connecting", "ready", "disconnected", "failed", "stopped", "logged_out"],
  connecting: ["qr_ready", "ready", "disconnected", "failed", "stopped", "logged_out"],
  ready: ["connecting", "disconnected", "failed", "stopped", "logged_out"],
  disconnected: ["qr_ready", "connecting", "ready", "failed", "stopped", "logged_out"],
  failed: ["starting", "qr_ready", "connecting", "ready", "disconnected", "stopped", "logged_out"],
  stopped: ["starting"],
  logged_out: ["starting", "stopped"],
};

describe("session state machine", () => {
  test("has exactly the contract's nine states", () => {
    expect([...sessionStates].sort() as string[]).toEqual(
      ["creating", "starting", "qr_ready", "connecting", "ready", "disconnected", "failed", "stopped", "logged_out"].sort(),
    );
  });

  for (const from of sessionStates) {
    for (const to of sessionStates) {
      const expected = allowed[from].includes(to);
      test(`${from} -> ${to} is ${expected ? "allowed" : "refused"}`, () => {
        expect(canTransition(from, to)).toBe(expected);
      });
    }
  }

  test("a stopped session can only be started", () => {
    expect(sessionStates.filter((s) => canTransition("stopped", s))).toEqual(["starting"]);
  });

  test("no state moves back to creating", () => {
    expect(sessionStates.some((s) => canTransition(s, "creating"))).toBe(false);
  });

  test("live states are those where the container should run", () => {
    expect(sessionStates.filter(isLive).sort() as string[]).toEqual(["connecting", "disconnected", "qr_ready", "ready", "starting"]);
  });

  test("isSessionState tells states from other strings", () => {
    expect(isSessionState("ready")).toBe(true);
    expect(isSessionState("READY")).toBe(false);
    expect(isSessionState("paused")).toBe(false);
  });
});
