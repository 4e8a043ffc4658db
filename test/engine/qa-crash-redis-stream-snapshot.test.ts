/**
 * kill -9 of the compiled engine during the initial snapshot into a Redis stream. A stream is a
 * change log: each change must be in it once. Its entry ids are `<lsn>-<index+1>`, and a snapshot
 * taken again after a kill before the first checkpoint has a new slot, so a new LSN, and a
 * snapshot resumed after a checkpoint numbers its records above the last start's: either way the
 * rows read again got ids above the top and were appended a second time (QA, a live workload:
 * 44,126 changes twice in one run; here 60,000 rows gave ~75,000 entries). Snapshot entries are
 * now added once per snapshot row (by the record's content name, record-identity.ts).
 */
import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import Redis from "ioredis";
import { createDatabase, requireRedis, sharedPg } from "../helpers/index.ts";
import { bigSnapshotSetup, Engine, killTwiceMidSnapshot } from "./e2e.ts";

const ROWS = 60_000;

describe("kill -9 during the initial snapshot into a Redis stream (compiled binary)", () => {
  test("each row is in the stream once, then each later change once", async () => {
    const pg = await sharedPg("system");
    const redisUrl = await requireRedis();
    const src = await createDatabase(pg, "qastream_src");
    const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
    const redis = new Redis(redisUrl);
    const prefix = `qastream${Math.random().toString(36).slice(2, 8)}:`;
    let engine: Engine | null = null;
    try {
      const setup = await bigSnapshotSetup(sql, pg.url(src), ROWS, `sinks:
  rd: { type: redis, url: "${redisUrl}", key_prefix: "${prefix}", batch_size: 500, batch_delay: 10ms }
pipelines:
  - name: big_rd
    from: public.big
    to:
      - { sink: rd, type: stream, key_template: "changes" }
      - { sink: rd, type: hash, key_template: "big:{id}" }
`);
      engine = new Engine(setup);
      // First kill before any checkpoint (the slot is made again, a new snapshot), the second
      // after one (the snapshot resumes after its last saved key).
      await killTwiceMidSnapshot(engine, setup, () => redis.xlen(`${prefix}changes`));
      await engine.start();
      await engine.snapshotDone(["public.big"], 60_000);
      // Changes after the snapshot: each once in the stream.
      await sql`update big set v = 'u' where id <= 10`;
      await sql`delete from big where id > ${ROWS - 5}`;
      await sql`insert into big values (${ROWS + 1}, 'new')`;
      const want = ROWS + 10 + 5 + 1;
      const until = Date.now() + 60_000;
      while ((await redis.exists(`${prefix}big:${ROWS + 1}`)) === 0 && Date.now() < until) await Bun.sleep(100);
      await Bun.sleep(500);
      const all = await redis.xrange(`${prefix}changes`, "-", "+");
      const count = new Map<string, number>();
      for (const [, f] of all) {
        const o: Record<string, string> = {};
        for (let i = 0; i < f.length; i += 2) o[f[i]] = f[i + 1];
        const sig = `${o.op}:${o.id}:${o.v ?? ""}`;
        count.set(sig, (count.get(sig) ?? 0) + 1);
      }
      const twice = [...count].filter(([, n]) => n > 1).map(([s]) => s);
      const reads = [...count.keys()].filter((s) => s.startsWith("upsert:") && !s.endsWith(":u") && !s.endsWith(":new")).length;
      expect({ entries: all.length, twice: twice.length, examples: twice.slice(0, 3), reads }).toEqual({ entries: want, twice: 0, examples: [], reads: ROWS });
      for (const id of [1, 10]) expect(count.get(`upsert:${id}:u`)).toBe(1);
      for (let id = ROWS - 4; id <= ROWS; id++) expect(count.get(`delete:${id}:`)).toBe(1);
      expect(count.get(`upsert:${ROWS + 1}:new`)).toBe(1);
      // The hashes equal the table.
      const keys = await redis.keys(`${prefix}big:*`);
      expect(keys.length).toBe(ROWS - 5 + 1);
      expect(await redis.hget(`${prefix}big:7`, "v")).toBe("u");
      // Streaming, the snapshot is behind: the set of its entries' names is gone (it held a name a row).
      expect(await redis.keys(`${prefix}cdc_engine:snapshot_entries:*`)).toEqual([]);
      expect(engine.log()).toContain("recreating it and taking the initial snapshot again");
      expect(engine.log()).toContain("resuming after the last saved key");
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine?.proc) await engine.kill();
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
      await sql.end();
    }
  }, 120_000);
});
