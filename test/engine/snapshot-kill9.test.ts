/**
 * kill -9 of the compiled engine during the initial snapshot: after the restarts every row is in
 * the sink. The source used to save its snapshot progress as soon as the engine had taken a
 * chunk into its sink queue; the rows still queued at the kill were never read again (QA: a
 * 300,000-row table ended with 265,000 rows in the postgres sink, after three kills).
 */
import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { Engine, mirrorConfig, waitCaughtUp } from "./e2e.ts";

describe("kill -9 during the initial snapshot (compiled binary)", () => {
  test("no row of a keyed table is lost", async () => {
    const pg = await sharedPg("system");
    const [src, dst] = [await createDatabase(pg, "snapk_src"), await createDatabase(pg, "snapk_dst")];
    const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
    const out = postgres(pg.url(dst), { max: 1, onnotice: () => {} });
    let engine: Engine | null = null;
    const ROWS = 200_000;
    try {
      await sql.unsafe(`create table big (id int primary key, v text); insert into big select g, md5(g::text) from generate_series(1, ${ROWS}) g`);
      const s = await mirrorConfig(pg.url(src), pg.url(dst), ["public.big"]);
      await Bun.write(s.config, (await Bun.file(s.config).text()).replace("heartbeat_interval: 1s", "heartbeat_interval: 1s\n  snapshot_chunk_size: 2000"));
      engine = new Engine(s);
      const sinkRows = async () => Number((await out`select count(*)::int as n from big`.catch(() => [{ n: 0 }]))[0].n);
      // Two kills, each once the sink holds more rows than before (the snapshot is under way).
      let seen = 0;
      for (let kill = 0; kill < 2; kill++) {
        await engine.start();
        const until = Date.now() + 60_000;
        while ((await sinkRows()) <= seen + 10_000 && Date.now() < until) await Bun.sleep(20);
        seen = await sinkRows();
        expect(seen).toBeLessThan(ROWS); // killed mid-snapshot, not after it
        await engine.kill("SIGKILL");
      }
      await engine.start();
      await engine.snapshotDone(["public.big"], 120_000);
      await sql`insert into big values (${ROWS + 1}, 'after')`;
      await waitCaughtUp(pg.url(src), pg.url(dst));
      const [got] = await out`select count(*)::int as n, count(distinct id)::int as d, md5(string_agg(id || v, ',' order by id)) as h from big`;
      const [want] = await sql`select count(*)::int as n, count(distinct id)::int as d, md5(string_agg(id || v, ',' order by id)) as h from big`;
      expect(got).toEqual(want);
      expect(got.n).toBe(ROWS + 1);
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine?.proc) await engine.kill();
      await sql.end();
      await out.end();
    }
  }, 240_000);
});
