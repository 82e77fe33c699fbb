import { expect, test } from "bun:test";
import { defaultInstanceId } from "../../src/runtime/instance-identity";
import { unenforcedLimits } from "../../src/runtime/podman/system";

test("the default instance id is i- and the install id's first 12 hex digits", () => {
  expect(defaultInstanceId("3f2a9c1e-77b0-4d1a-9e0f-0123456789ab")).toBe("i-3f2a9c1e77b0");
});

test("rootless Podman enforces our limits only on cgroup v2 with the controllers delegated", () => {
  const host = (cgroupVersion: string, rootless: boolean, cgroupControllers: string[] | null = []) => ({ cgroupVersion, rootless, cgroupControllers, security: { rootless } });
  expect(unenforcedLimits(host("v1", true))).toEqual(["memory", "pids", "cpu"]);
  expect(unenforcedLimits(host("v1", false))).toEqual([]);
  expect(unenforcedLimits(host("v2", true, ["cpu", "memory", "pids"]))).toEqual([]);
  expect(unenforcedLimits(host("v2", true, ["memory", "pids"]))).toEqual(["cpu"]);
  expect(unenforcedLimits(host("v2", true, null))).toEqual(["memory", "pids", "cpu"]);
});
