/**
 * A pipeline added to a running deployment, its backfill cut by SIGTERM (a stop cannot wait for a
 * long read: the next start reads it again) while the source deletes rows the first read had
 * copied. The second read no longer has them and the stream's deletes are older than its snapshot,
 * so they stayed in the new pipeline's table for good (QA: 40 rows of 346,459). A read again into
 * table sinks now clears the pipeline's copy of each table first.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import postgres from "postgres";
import { waitUntil } from "../helpers/wait-for.ts";
import { Engine, mirrorConfig, sourceAndSink } from "../engine/e2e.ts";
import { logSays } from "../qa-source/helpers.ts";

const ROWS = 150_000;

async function rows(url: string, table: string): Promise<string[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return (await sql.unsafe(`select id || ':' || v as r from ${table} order by id`)).map((r) => String(r.r));
  } finally {
    await sql.end();
  }
}

describe("a backfill cut by SIGTERM while rows it copied are deleted (compiled binary)", () => {
  test("read again, the new pipeline's table equals the source", async () => {
    const db = await sourceAndSink("qabf");
    // big is captured by the mirror already: the new pipeline is backfilled (not an added table)
    const setup = await mirrorConfig(db.srcUrl, db.dstUrl, ["public.small", "public.big"]);
    const engine = new Engine(setup);
    try {
      await db.sql`create table small (id int primary key, v int)`;
      await db.sql`insert into small values (1, 1)`;
      await db.sql.unsafe(`create table big (id int primary key, v int); insert into big select g, g from generate_series(1, ${ROWS}) g`);
      await engine.start();
      await engine.snapshotDone(["public.small", "public.big"]);
      expect(await engine.kill("SIGTERM")).toBe(0);

      const config = readFileSync(setup.config, "utf8").replace("heartbeat_interval: 1s", "heartbeat_interval: 1s\n  snapshot_chunk_size: 2000");
      writeFileSync(setup.config, `${config}  - name: bf\n    from: public.big\n    select: [id, v]\n    to: { sink: wh, table: big_bf, key: [id] }\n`);
      await engine.start();
      const copied = async () => (await db.out`select count(*)::int as n from big_bf`.catch(() => [{ n: 0 }]))[0].n as number;
      await waitUntil("the backfill under way", async () => (await copied()) >= 10_000, 30_000, () => engine.log(), 20);
      expect(engine.log()).not.toContain("backfill of public.big done");
      expect(await engine.kill("SIGTERM")).toBe(0);

      await db.sql`delete from big where id <= 500`;
      await db.sql`update big set v = -v where id between 501 and 510`;
      await engine.start();
      await logSays(engine, "backfill of pipeline 'bf' read", 60_000);
      const want = await rows(db.srcUrl, "big");
      await waitUntil("big_bf equals the source", async () => JSON.stringify(await rows(db.dstUrl, "big_bf")) === JSON.stringify(want), 30_000, () => engine.log());
    } finally {
      if (engine.proc) await engine.kill("SIGTERM");
      await db.end();
    }
  }, 120_000);
});
