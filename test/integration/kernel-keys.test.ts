// runc gives each container a session keyring; with the kernel's default quota of 200 keys per
// user, container creates fail past about 95 sessions. The setup script (run by scripts/test.sh)
// raised the quota; running it again changes nothing, and --dry-run never writes.
import { expect, test } from "bun:test";
import { $ } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const script = join(import.meta.dir, "../../scripts/kernel-keys.sh");

test("after setup the per-user key quota fits well over 100 containers, and a second run says ok", async () => {
  expect(Number(readFileSync("/proc/sys/kernel/keys/maxkeys", "utf8"))).toBeGreaterThanOrEqual(20000);
  expect(Number(readFileSync("/proc/sys/kernel/keys/maxbytes", "utf8"))).toBeGreaterThanOrEqual(2000000);
  expect((await $`bash ${script}`.text()).trim()).toStartWith("ok: kernel key quota per user is");
  expect(readFileSync("/etc/sysctl.d/90-wa-session-api.conf", "utf8")).toContain("kernel.keys.maxkeys = 20000");
  expect((await $`bash ${script} --dry-run`.text()).trim()).toStartWith("ok:");
});
