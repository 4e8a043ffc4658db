/**
 * Shared services for the whole test run. Postgres servers start once per `bun test`
 * process and are stopped by the preload's afterAll. Redis and MariaDB are the machine's
 * (or REDIS_URL / MYSQL_URL); when one is missing the test fails, it is never skipped.
 */
import { startPgServer, type PgFlavor, type PgServer } from "./postgres-server.ts";

const servers = new Map<string, Promise<PgServer>>();

/** The shared logical-replication server of a flavor ("system" = machine's PG 15, "embedded" = PG 18). */
export function sharedPg(flavor: PgFlavor = "system"): Promise<PgServer> {
  let s = servers.get(flavor);
  if (!s) {
    s = startPgServer(flavor);
    servers.set(flavor, s);
  }
  return s;
}

/** Flavors a source test runs against: both unless CDC_TEST_PG narrows it ("system" or "embedded"). */
export function pgFlavors(): PgFlavor[] {
  const v = process.env.CDC_TEST_PG;
  if (v === "system" || v === "embedded") return [v];
  return ["system", "embedded"];
}

export async function stopSharedServers(): Promise<void> {
  const all = [...servers.values()];
  servers.clear();
  await Promise.all(all.map(async (p) => (await p.catch(() => null))?.destroy()));
}

export const redisUrl = () => process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const mysqlUrl = () => process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306";

/** Throws (failing the test) when Redis does not answer. */
export async function requireRedis(): Promise<string> {
  const url = new URL(redisUrl());
  const sock = await Bun.connect({ hostname: url.hostname, port: Number(url.port || 6379), socket: { data() {} } }).catch((e) => {
    throw new Error(`Redis is required for this test and is not reachable at ${redisUrl()}: ${e.message}`);
  });
  sock.end();
  return redisUrl();
}

/** Throws (failing the test) when MariaDB/MySQL does not answer. */
export async function requireMysql(): Promise<string> {
  const url = new URL(mysqlUrl());
  const sock = await Bun.connect({ hostname: url.hostname, port: Number(url.port || 3306), socket: { data() {} } }).catch((e) => {
    throw new Error(`MariaDB/MySQL is required for this test and is not reachable at ${mysqlUrl()}: ${e.message}`);
  });
  sock.end();
  return mysqlUrl();
}
