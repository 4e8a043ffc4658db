/**
 * The state dir is lost (deleted, a new volume) while the engine is stopped and rows are deleted
 * at the source: the next start finds the slot without a checkpoint and snapshots again. The rows
 * deleted meanwhile used to stay in the mirror for good (QA: verify named them) and a keyless
 * table's copy doubled: the old slot's removals are applied before the new snapshot, as after a
 * start that ended before its first checkpoint.
 */
import { expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { Engine, mirrorConfig, sourceAndSink, verify, waitCaughtUp } from "./e2e.ts";

test("a lost state dir: rows deleted while stopped leave the mirror, a keyless copy is not doubled; verify equal", async () => {
  const db = await sourceAndSink("ls");
  const { sql, out } = db;
  let engine: Engine | null = null;
  try {
    await sql.unsafe(`
      create table items (id int primary key, v text);
      create table notes (n int, v text);
      insert into items select g, 'v' || g from generate_series(1, 200) g;
      insert into notes select g % 7, 'n' || g from generate_series(1, 50) g;`);
    const s = await mirrorConfig(db.srcUrl, db.dstUrl, ["public.items", "public.notes"]);
    engine = new Engine(s);
    await engine.start();
    await engine.snapshotDone(["public.items", "public.notes"]);
    await sql`update items set v = 'changed' where id <= 10`;
    await waitCaughtUp(db.srcUrl, db.dstUrl);
    expect(await engine.kill("SIGTERM")).toBe(0);

    await sql`delete from items where id between 100 and 104`;
    await sql`update items set id = id + 1000 where id = 50`; // a key change removes the old key too
    rmSync(join(s.dir, "state"), { recursive: true, force: true });

    await engine.start();
    for (let i = 0; i < 300 && !/snapshot of public\.notes done[\s\S]*snapshot of public\.notes done/.test(engine.log()); i++) await Bun.sleep(100);
    await waitCaughtUp(db.srcUrl, db.dstUrl);
    const ids = async (db: postgres.Sql) => (await db`select id from items order by id`).map((r) => r.id);
    expect(await ids(out)).toEqual(await ids(sql));
    expect((await ids(out)).length).toBe(195);
    const multiset = (db: postgres.Sql) => db`select n, v, count(*)::int as c from notes group by 1, 2 order by 1, 2`;
    expect(await multiset(out)).toEqual(await multiset(sql));
    expect(engine.log()).toContain("exists without a checkpoint; recreating it");
    expect(engine.log()).toMatch(/holds \d+ deletes or truncates/);
    const v = await verify(s.config);
    expect(v.stdout).toContain("all 2 table(s) equal");
    expect(await engine.kill("SIGTERM")).toBe(0);
  } finally {
    if (engine?.proc) await engine.kill();
    await db.end();
  }
}, 180_000);
