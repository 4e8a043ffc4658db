/**
 * kill -9 during the initial snapshot after a checkpoint (compiled binary), rows just below the
 * highest key the sink holds deleted and updated before the kill: the restart resumes after the
 * last checkpointed key, and the sink held rows past it. The stream dropped every change above
 * that key (the resumed read holds them), so the deleted rows stayed in the copy for good (QA:
 * 299 of 301). Now it drops only changes above the greatest key handed over before the kill.
 */
import { expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { bigSnapshotSetup, Engine, killTwiceMidSnapshot, verify, waitCaughtUp } from "../engine/e2e.ts";

const ROWS = 60_000;

test("kill -9 mid-snapshot after a checkpoint, rows the sink already holds deleted and updated: the copy equals the source", async () => {
  const pg = await sharedPg("system");
  const [src, dst] = [await createDatabase(pg, "qaresume_src"), await createDatabase(pg, "qaresume_dst")];
  const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
  const out = postgres(pg.url(dst), { max: 1, onnotice: () => {} });
  let engine: Engine | null = null;
  const sinkMax = async () => Number((await out`select coalesce(max(id), 0)::int as m from big`.catch(() => [{ m: 0 }]))[0].m);
  try {
    const setup = await bigSnapshotSetup(sql, pg.url(src), ROWS, `sinks:
  wh: { type: postgres, url: "${pg.url(dst)}", batch_delay: 10ms }
pipelines:
  - { name: mirror, from: public.big, to: wh }
`);
    engine = new Engine(setup);
    let changed = 0;
    await killTwiceMidSnapshot(engine, setup, async () => Number((await out`select count(*)::int as n from big`.catch(() => [{ n: 0 }]))[0].n), async (kill) => {
      if (kill !== 1) return;
      const top = await sinkMax();
      const del = await sql`delete from big where id > ${top - 300} and id <= ${top} and id % 3 <> 0`;
      const upd = await sql`update big set v = 'changed' where id > ${top - 300} and id <= ${top} and id % 3 = 0`;
      changed = del.count + upd.count;
    });
    expect(changed).toBeGreaterThan(250);
    await engine.start();
    await engine.snapshotDone(["public.big"], 60_000);
    await waitCaughtUp(pg.url(src), pg.url(dst), 60_000);
    const digest = async (db: postgres.Sql) => (await db`select count(*)::int as n, sum(hashtext(id::text || v))::text as h from big`)[0];
    expect(await digest(out)).toEqual(await digest(sql));
    const v = await verify(setup.config);
    expect(v.stdout).toMatch(/public\.big\s+\d+\s+\d+\s+equal/);
    expect(engine.log()).toContain("resuming after the last saved key");
    expect(await engine.kill("SIGTERM")).toBe(0);
  } finally {
    if (engine?.proc) await engine.kill();
    await sql.end();
    await out.end();
  }
}, 180_000);
