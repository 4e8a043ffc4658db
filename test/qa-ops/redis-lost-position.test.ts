/**
 * Redis restarted without persistence under a running engine (QA of the compiled binary against
 * operational incidents). Redis came back empty: the keys and the sink's position were gone, and
 * the engine wrote on from where it was, silently leaving Redis with only the rows changed after
 * the restart (8,293 of 14,397 keys in the QA run, /health "up"). Now the fenced write finds its
 * position missing and the engine stops with exit 2 and one line that says what happened and the
 * way out. Also: a TRUNCATE sent to the DLQ named a missing key-template column, not the reason.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import postgres from "postgres";
import Redis from "ioredis";
import { createDatabase, freePort, sharedPg } from "../helpers/index.ts";
import { Engine, mirrorConfig } from "../engine/e2e.ts";
import { exitWithin, logSays } from "../qa-source/helpers.ts";

/** A throwaway Redis that keeps nothing on disk, as the machine's ephemeral ones. */
async function startRedis(port: number, dir: string): Promise<void> {
  const p = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "yes"], { stdout: "ignore", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`redis-server failed: ${await new Response(p.stderr).text()}`);
  for (let i = 0; ; i++) {
    const r = new Redis(port, "127.0.0.1", { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null }).on("error", () => {});
    try {
      await r.connect();
      await r.ping();
      return;
    } catch (e) {
      if (i > 50) throw e;
      await Bun.sleep(100);
    } finally {
      r.disconnect();
    }
  }
}

let port = 0;
afterAll(async () => {
  if (port) await new Redis(port, "127.0.0.1", { maxRetriesPerRequest: 1 }).on("error", () => {}).call("shutdown", "nosave").catch(() => {});
});

describe("Redis restarted empty under a running engine (compiled binary)", () => {
  test("the engine stops with exit 2 naming the lost position; a truncate's dead letter says why", async () => {
    const pg = await sharedPg("system");
    const src = await createDatabase(pg, "qaredis_src");
    const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
    port = await freePort();
    const setup = await mirrorConfig(pg.url(src), pg.url(src), ["public.t"]);
    await startRedis(port, setup.dir);
    const engine = new Engine(setup);
    try {
      await sql`create table t (id int primary key, v int)`;
      await sql`insert into t select g, g from generate_series(1, 50) g`;
      const config = (await Bun.file(setup.config).text()).replace(/sinks:[\s\S]*$/, `sinks:
  rd: { type: redis, url: "redis://127.0.0.1:${port}", batch_delay: 10ms }
pipelines:
  - name: rd
    from: public.t
    to: { sink: rd, type: hash, key_template: "t:{id}" }
`);
      await Bun.write(setup.config, config);
      await engine.start();
      const redis = new Redis(port, "127.0.0.1", { maxRetriesPerRequest: 1 }).on("error", () => {});
      const until = Date.now() + 30_000;
      await sql`insert into t values (51, 51)`;
      while ((await redis.exists("t:51").catch(() => 0)) === 0 && Date.now() < until) await Bun.sleep(100);
      expect(await redis.get("cdc_engine:position:rd:rd")).not.toBeNull();

      // A truncate is refused by Redis with its own reason (the key template has nothing to render).
      await sql`truncate t`;
      await sql`insert into t values (52, 52)`;
      while ((await redis.exists("t:52").catch(() => 0)) === 0 && Date.now() < until) await Bun.sleep(100);
      const dlq = new Database(join(setup.dir, "state", "dlq.sqlite"), { readonly: true });
      const letters = dlq.query("select op, error from dead_letters").all() as { op: string; error: string }[];
      dlq.close();
      expect(letters).toEqual([{ op: "truncate", error: expect.stringContaining("truncate is not applied to Redis keys") }]);

      // Redis restarts without its data; the next write finds the position gone.
      await redis.call("shutdown", "nosave").catch(() => {});
      redis.disconnect();
      await startRedis(port, setup.dir);
      await sql`insert into t values (53, 53)`;
      expect(await exitWithin(engine, 30_000)).toBe(2);
      const line = await logSays(engine, "no longer holds the position of pipeline rd");
      expect(line).toContain("slot drop");
      // Nothing written past the loss: Redis holds none of the rows (no partial copy).
      const after = new Redis(port, "127.0.0.1", { maxRetriesPerRequest: 1 }).on("error", () => {});
      expect(await after.dbsize()).toBe(0);
      after.disconnect();
    } finally {
      if (engine.proc) await engine.kill();
      await sql.end();
    }
  }, 90_000);
});
