// A PostgreSQL server of the test's own, which it may stop and start again (the shared one on
// 5432 serves other tests). Debian's PostgreSQL 15 binaries run as the `postgres` OS user on a
// free loopback port, with their data and unix socket in a temp folder that user owns.
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BIN = "/usr/lib/postgresql/15/bin";

export interface PrivatePostgres {
  url: string;
  start(): Promise<void>;
  /** Fast shutdown: open connections are closed by the server. */
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

async function asPostgres(args: string[]): Promise<void> {
  const proc = Bun.spawn(["runuser", "-u", "postgres", "--", ...args], { stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`${args.join(" ")} failed (${code}): ${err || out}`);
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), "wa-pg-"));
  const { uid, gid } = await Bun.$`id -u postgres && id -g postgres`.text().then((t) => {
    const [u, g] = t.trim().split("\n").map(Number);
    return { uid: u!, gid: g! };
  });
  chownSync(dir, uid, gid);
  const data = join(dir, "data");
  const port = freePort();
  const pwfile = join(dir, "pw");
  await Bun.write(pwfile, "postgres\n");
  chownSync(pwfile, uid, gid);
  await asPostgres([`${BIN}/initdb`, "-D", data, "-U", "postgres", "--auth=md5", `--pwfile=${pwfile}`, "-E", "UTF8", "--no-sync"]);
  const options = `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir} -c fsync=off`;
  const server: PrivatePostgres = {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    start: () => asPostgres([`${BIN}/pg_ctl`, "-D", data, "-o", options, "-l", join(dir, "log"), "-w", "-t", "30", "start"]),
    stop: () => asPostgres([`${BIN}/pg_ctl`, "-D", data, "-m", "fast", "-w", "stop"]),
    async destroy() {
      await server.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
