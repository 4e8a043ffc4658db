/**
 * --resnapshot after lost changes (the slot dropped): a GROUP BY fed by the re-read must equal SQL
 * over the source, though its state was restored from the last checkpoint and rows were deleted,
 * inserted and moved between groups in the changes that were lost.
 */
import { expect, test } from "bun:test";
import { Engine, mirrorConfig, sourceAndSink, waitCaughtUp } from "../engine/e2e.ts";
import { dropSlotUnder, exitWithin, logSays, slotOf, startWith } from "./helpers.ts";

const groupsSql = `select g::text || ':' || n::text || ':' || s::text as r from (select v % 7 as g, count(*) as n, sum(v) as s from t group by 1) x order by g`;

test("--resnapshot after a dropped slot: the GROUP BY ends equal to SQL (deletes, inserts and group moves in the lost gap)", async () => {
  const db = await sourceAndSink("qa_resnap_gb");
  await db.sql`create table t (id bigint primary key, v int)`;
  await db.sql`insert into t select g, g from generate_series(1, 2000) g`;
  const s = await mirrorConfig(db.srcUrl, db.dstUrl, ["public.t"], `  - name: groups
    from: public.t
    select: ["v % 7 AS g", v]
    group_by: [g]
    aggregate: { n: "COUNT(*)", s: "SUM(v)" }
    to: { sink: wh, table: t_groups, key: [g] }
`);
  const slot = await slotOf(s);
  const engine = new Engine(s);
  const out = async () => (await db.out.unsafe(`select g::text || ':' || n::text || ':' || s::text as r from t_groups order by g`)).map((r) => String(r.r));
  try {
    await engine.start();
    await engine.snapshotDone(["public.t"]);
    await db.sql`update t set v = v + 1 where id % 10 = 0`;
    await waitCaughtUp(db.srcUrl, db.dstUrl);
    const want1 = (await db.sql.unsafe(groupsSql)).map((r) => String(r.r));
    for (let i = 0; i < 100 && JSON.stringify(await out()) !== JSON.stringify(want1); i++) await Bun.sleep(100);
    expect(await out()).toEqual(want1);
    await Bun.sleep(1500); // a checkpoint holds the GROUP BY's state
    await dropSlotUnder(db.sql, slot);
    expect(await exitWithin(engine, 30_000)).toBe(2);
    // lost: deletes, inserts, and moves between groups
    await db.sql`delete from t where id % 3 = 0`;
    await db.sql`insert into t select g, g * 3 from generate_series(2001, 2600) g`;
    await db.sql`update t set v = v + 2 where id % 5 = 1`;
    await startWith(engine, s, ["--resnapshot"]);
    await logSays(engine, "snapshot of public.t done", 60_000);
    await db.sql`insert into t values (5000, 5000)`;
    await waitCaughtUp(db.srcUrl, db.dstUrl);
    const want = (await db.sql.unsafe(groupsSql)).map((r) => String(r.r));
    for (let i = 0; i < 100 && JSON.stringify(await out()) !== JSON.stringify(want); i++) await Bun.sleep(100);
    expect(await out()).toEqual(want);
    expect(await engine.kill("SIGTERM")).toBe(0);
  } finally {
    if (engine.proc) await engine.kill();
    await db.end();
  }
}, 180_000);
