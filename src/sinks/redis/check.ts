import type { RedisSinkConfig } from "./config.ts";
import { connectRedis, createRedis, describeRedisError, redactRedisUrl } from "./connect.ts";

/** `cdc-engine check`: connect (AUTH), PING, report the server version and mode. */
export async function checkRedisSink(config: RedisSinkConfig): Promise<string> {
  const client = createRedis(config, { reconnect: false });
  client.on("error", () => {});
  try {
    await connectRedis(client);
    await client.ping();
    const info = config.cluster ? "" : await (client as import("ioredis").default).info("server");
    const version = /redis_version:(\S+)/.exec(info)?.[1];
    return `redis${version ? " " + version : ""}${config.cluster ? " cluster" : ""} at ${redactRedisUrl(config.url)}`;
  } catch (e) {
    throw new Error(describeRedisError(e, config));
  } finally {
    client.disconnect();
  }
}
