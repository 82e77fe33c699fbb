// Where rootless Podman cannot enforce memory, pids and CPU limits (cgroup v1, as on this CI
// machine, or cgroup v2 without delegated controllers), the API says so once at start.
import { afterAll, expect, test } from "bun:test";
import { PodmanClient } from "../../src/runtime/podman/client";
import { startTestApi, type TestApi } from "../support/api";
import { requireEnv, waitFor } from "../support/env";

let t: TestApi | undefined;
afterAll(async () => {
  await t?.close();
});

const WARNING = "container resource limits are not enforced";

test("one warning at start where the host cannot enforce the sandbox limits, none where it can", async () => {
  // The host's facts, asked of libpod directly.
  const { host } = await new PodmanClient(requireEnv("PODMAN_SOCKET")).json<{
    host: { cgroupVersion: string; cgroupControllers: string[] | null; security: { rootless: boolean } };
  }>("GET", "/info");
  const controllers = host.cgroupControllers ?? [];
  const enforced = !host.security.rootless || (host.cgroupVersion === "v2" && ["memory", "pids", "cpu"].every((c) => controllers.includes(c)));

  t = await startTestApi("pglite", { LOG_LEVEL: "warn" }, { process: true, captureStdout: true });
  // Creating a session checks the engine again: still one warning.
  await t.createSession("limits");
  await t.createSession("limits-2");
  const warnings = () =>
    t!.stdout().trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((r) => typeof r.msg === "string" && r.msg.startsWith(WARNING));
  if (enforced) {
    await Bun.sleep(200);
    expect(warnings()).toEqual([]);
    return;
  }
  const [warning] = await waitFor(() => (warnings().length > 0 ? warnings() : null), 5000, "the limits warning");
  expect(warning).toMatchObject({ level: "warn", cgroupVersion: host.cgroupVersion, rootless: host.security.rootless });
  expect(warning.msg).toContain("SANDBOX_MEMORY");
  expect(warnings()).toHaveLength(1);
});
