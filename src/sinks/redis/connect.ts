import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import Redis, { Cluster, type RedisOptions } from "ioredis";
import type { RedisSinkConfig } from "./config.ts";

export type RedisClient = Redis | Cluster;

/**
 * ioredis client. Commands fail fast while disconnected (no offline queue, one try per
 * request) so the sink's own backoff decides when to try again and health can say "down".
 */
export function createRedis(config: RedisSinkConfig, opts: { reconnect?: boolean } = {}): RedisClient {
  const u = new URL(config.url);
  const tlsWanted = u.protocol === "rediss:" || config.tls !== undefined;
  const tls = tlsWanted
    ? {
        ca: config.tls?.ca ? readFileSync(config.tls.ca) : undefined,
        cert: config.tls?.cert ? readFileSync(config.tls.cert) : undefined,
        key: config.tls?.key ? readFileSync(config.tls.key) : undefined,
        rejectUnauthorized: config.tls?.reject_unauthorized ?? true,
        // SNI takes host names only; with an IP the certificate is checked against its IP SANs.
        servername: isIP(u.hostname.replace(/^\[|\]$/g, "")) ? undefined : u.hostname,
      }
    : undefined;
  const base: RedisOptions = {
    username: config.username ?? (u.username ? decodeURIComponent(u.username) : undefined),
    password: config.password ?? (u.password ? decodeURIComponent(u.password) : undefined),
    db: Number(u.pathname.replace(/^\//, "") || 0),
    tls,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: config.connect_timeout,
    retryStrategy: opts.reconnect === false ? () => null : (times) => Math.min(100 * 2 ** Math.min(times, 10), config.max_backoff),
    reconnectOnError: () => false,
  };
  if (!config.cluster) return new Redis({ ...base, host: u.hostname, port: Number(u.port || 6379) });
  const nodes = (config.nodes ?? [config.url]).map((n) => {
    const nu = new URL(n);
    return { host: nu.hostname, port: Number(nu.port || 6379) };
  });
  return new Cluster(nodes, { redisOptions: base, lazyConnect: true, enableOfflineQueue: false, clusterRetryStrategy: (t) => Math.min(100 * 2 ** Math.min(t, 10), config.max_backoff) });
}

export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "redis://***";
  }
}

/** Auth and config mistakes are not worth retrying; everything about the connection is. */
export function isAuthError(e: unknown): boolean {
  return /WRONGPASS|NOAUTH|NOPERM|invalid username-password|AUTH.*without any password/i.test((e as Error)?.message ?? "");
}

/**
 * Connect, turning ioredis' generic "Connection is closed." (what connect() rejects with when
 * AUTH fails) into the error the server actually sent.
 */
export async function connectRedis(client: RedisClient): Promise<void> {
  let last: Error | null = null;
  const onError = (e: Error) => (last = e);
  client.on("error", onError);
  try {
    await client.connect();
  } catch (e) {
    throw last ?? e;
  } finally {
    client.off("error", onError);
  }
}

export function describeRedisError(e: unknown, config: RedisSinkConfig): string {
  const msg = (e as Error)?.message ?? String(e);
  const where = redactRedisUrl(config.url);
  if (isAuthError(e)) return `authentication failed at ${where}: check the username and password (${msg})`;
  if (/ECONNREFUSED/.test(msg)) return `connection refused at ${where}: is Redis running?`;
  return `${where}: ${msg}`;
}
