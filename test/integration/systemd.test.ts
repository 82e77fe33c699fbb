// The systemd pieces: the unit passes `systemd-analyze verify` (warnings count as failures), and
// scripts/install-systemd.sh stages a working install under a temporary root (DESTDIR), twice
// with nothing changed the second time, never overwriting the operator's env file. This machine
// has no systemd as PID 1, so the user, lingering, Podman-socket and systemctl steps are checked
// as printed by --dry-run, not run.
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey } from "../../src/auth/keys";
import { createTestDatabase } from "../support/databases";
import { requireEnv, waitFor } from "../support/env";
import { freePort } from "../support/net";

const root = join(import.meta.dir, "../..");
const script = join(root, "scripts/install-systemd.sh");
const units = readdirSync(join(root, "systemd")).filter((f) => f.endsWith(".service"));
const temps: string[] = [];
const temp = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** `systemd-analyze verify` of one unit file: its exit code and everything it said. */
function verify(path: string): { code: number; output: string } {
  const r = Bun.spawnSync(["/usr/bin/systemd-analyze", "verify", "--man=no", path], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, output: (r.stdout.toString() + r.stderr.toString()).trim() };
}

function install(env: Record<string, string>, ...args: string[]): { code: number; out: string; err: string } {
  const r = Bun.spawnSync(["bash", script, ...args], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

/** Every file under a folder with its modification time and content hash. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const rel of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, rel);
    const st = statSync(path);
    if (st.isFile()) out.set(rel, `${st.mtimeMs} ${st.mode} ${Bun.hash(readFileSync(path))}`);
  }
  return out;
}

describe("systemd units", () => {
  test("the repository has units to check", () => {
    expect(units).toContain("wa-session-api.service");
  });

  for (const unit of units) {
    test(`${unit} passes systemd-analyze verify with no warning`, () => {
      const r = verify(join(root, "systemd", unit));
      expect(r.output).toBe("");
      expect(r.code).toBe(0);
    });
  }

  test("the check catches a broken unit (a bad value is only a warning to systemd, and still fails here)", () => {
    const dir = temp("wa-unit-");
    const text = readFileSync(join(root, "systemd/wa-session-api.service"), "utf8");
    writeFileSync(join(dir, "bad.service"), text.replace("Restart=on-failure", "Restart=sometimes"));
    const bad = verify(join(dir, "bad.service"));
    expect(bad.output).toContain("sometimes");
    writeFileSync(join(dir, "gone.service"), text.replace("ExecStart=/usr/bin/env bun", "ExecStart=/nonexistent/bun"));
    expect(verify(join(dir, "gone.service")).code).not.toBe(0);
  });

  test("the unit does not use %U for the user's runtime folder (it is the manager's uid, 0, in a system unit)", () => {
    const text = readFileSync(join(root, "systemd/wa-session-api.service"), "utf8");
    expect(text).not.toMatch(/^[^#]*%U/m);
    expect(text).toContain("EnvironmentFile=/etc/wa-session-api/env");
  });
});

describe("scripts/install-systemd.sh", () => {
  test("bash -n passes", () => {
    const r = Bun.spawnSync(["bash", "-n", script], { stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test("--dry-run prints every step and changes nothing", () => {
    const dest = temp("wa-dry-");
    const r = install({ WA_USER: "wa-test-nobody", PREFIX: join(dest, "opt") }, "--dry-run");
    expect(r.code).toBe(0);
    expect(r.out).toContain("would: create user wa-test-nobody");
    expect(r.out).toContain("would: give wa-test-nobody the subuid range");
    expect(r.out).toContain("loginctl enable-linger wa-test-nobody");
    expect(r.out).toContain("systemctl --user enable --now podman.socket");
    expect(r.out).toContain("bun install --production");
    expect(r.out).toContain("/etc/wa-session-api/env");
    expect(r.out).toContain("systemctl daemon-reload && systemctl enable --now wa-egress.service wa-session-api.service");
    expect(r.out).toContain("systemd is not PID 1 here");
    expect(r.out).not.toContain("changed:");
    expect(r.out.trim().split("\n").at(-1)).toBe("dry run: nothing was changed");
    expect(readdirSync(dest)).toEqual([]);
    expect(Bun.spawnSync(["id", "wa-test-nobody"]).exitCode).not.toBe(0);
  });

  test("unknown arguments are refused", () => {
    expect(install({}, "--frobnicate").code).toBe(2);
  });

  describe("staged under DESTDIR", () => {
    const dest = temp("wa-dest-");
    const user = process.env.PODMAN_USER || "wasandbox";
    const env = { DESTDIR: dest, WA_USER: user };
    const prefix = join(dest, "opt/wa-session-api");
    const envFile = join(dest, "etc/wa-session-api/env");
    const unitDir = join(dest, "etc/systemd/system");

    test("first run installs the app, its production dependencies, the env file, the unit and its drop-in", () => {
      const r = install(env);
      expect(r.code).toBe(0);
      expect(r.out).toContain("changed: bun install --production");
      expect(readFileSync(join(prefix, "src/main.ts"), "utf8")).toBe(readFileSync(join(root, "src/main.ts"), "utf8"));
      expect(existsSync(join(prefix, "drizzle/meta/_journal.json"))).toBe(true);
      expect(existsSync(join(prefix, "test"))).toBe(false);
      expect(existsSync(join(prefix, "node_modules/elysia/package.json"))).toBe(true);
      expect(existsSync(join(prefix, "node_modules/drizzle-kit"))).toBe(false); // a devDependency only
      expect(readFileSync(envFile, "utf8")).toBe(readFileSync(join(root, "systemd/wa-session-api.env.example"), "utf8"));
      expect(statSync(envFile).mode & 0o777).toBe(0o600);
      const uid = Bun.spawnSync(["id", "-u", user]).stdout.toString().trim();
      const dropin = readFileSync(join(unitDir, "wa-session-api.service.d/10-install.conf"), "utf8");
      expect(dropin).toContain(`User=${user}`);
      expect(dropin).toContain(`Environment=XDG_RUNTIME_DIR=/run/user/${uid}`);
      expect(dropin).toContain("WorkingDirectory=/opt/wa-session-api");
      // The egress gateway's unit beside it, run as the same user.
      expect(readFileSync(join(unitDir, "wa-egress.service.d/10-install.conf"), "utf8")).toBe(dropin);
    });

    for (const unit of ["wa-session-api.service", "wa-egress.service"]) {
      test(`the installed ${unit} with its drop-in passes systemd-analyze verify`, () => {
        const r = verify(join(unitDir, unit));
        expect(r.output).toBe("");
        expect(r.code).toBe(0);
      });
    }

    test("a second run changes nothing and keeps the operator's env file", () => {
      writeFileSync(envFile, "PORT=4000\n# the operator's own\n", { mode: 0o600 });
      const before = snapshot(dest);
      const r = install(env);
      expect(r.code).toBe(0);
      expect(r.out).not.toContain("changed:");
      expect(r.out.trim().split("\n").at(-1)).toBe("nothing to change");
      expect(snapshot(dest)).toEqual(before);
      expect(readFileSync(envFile, "utf8")).toBe("PORT=4000\n# the operator's own\n");
    });

    test("an upgrade copies what changed and removes what the new version dropped", () => {
      writeFileSync(join(prefix, "src/main.ts"), "// an older version\n");
      writeFileSync(join(prefix, "src/old-module.ts"), "export {};\n");
      const r = install(env);
      expect(r.code).toBe(0);
      expect(r.out).toContain("changed: /opt/wa-session-api/src: copy 1 file(s), remove 1");
      expect(readFileSync(join(prefix, "src/main.ts"), "utf8")).toBe(readFileSync(join(root, "src/main.ts"), "utf8"));
      expect(existsSync(join(prefix, "src/old-module.ts"))).toBe(false);
      expect(install(env).out).not.toContain("changed:");
    });

    test("the installed app, with only production dependencies, starts and is ready", async () => {
      const db = await createTestDatabase();
      const dataDir = temp("wa-dest-data-");
      const port = freePort();
      const appEnv = {
        PATH: process.env.PATH!,
        PORT: String(port),
        HOST: "127.0.0.1",
        DATA_DIR: dataDir,
        DATABASE_URL: db.url,
        ADMIN_API_KEY: generateKey("admin"),
        PODMAN_SOCKET: requireEnv("PODMAN_SOCKET"),
        INSTANCE_ID: `test-${crypto.randomUUID().slice(0, 8)}`,
        LOG_LEVEL: "error",
        ...(process.env.SANDBOX_IMAGE ? { SANDBOX_IMAGE: process.env.SANDBOX_IMAGE } : {}),
      };
      // Both units' commands, as installed: the gateway and the API, with the same environment.
      const gateway = Bun.spawn(["bun", "src/egress/main.ts"], { cwd: prefix, env: appEnv, stdout: "ignore", stderr: "pipe" });
      const child = Bun.spawn(["bun", "src/main.ts"], { cwd: prefix, env: appEnv, stdout: "ignore", stderr: "pipe" });
      try {
        const ready = await waitFor(
          () => fetch(`http://127.0.0.1:${port}/ready`).then(async (r) => (r.status === 200 ? r.json() : undefined), () => undefined),
          30_000,
          "the installed API to be ready",
        );
        expect(ready).toEqual({ success: true, database: "ok", runtime: "ok", image: "ok", egress: "ok" });
      } finally {
        child.kill();
        gateway.kill();
        await child.exited;
        await gateway.exited;
        await db.drop();
      }
    });
  });
});
