/**
 * A primary key added to a captured keyless table while the engine streams, as the engine's
 * warning about keyless tables suggests: the copy the engine created without a key gets the
 * same key, so the upserts by it that follow are applied (they went to the dead-letter queue:
 * "no unique or exclusion constraint matching the ON CONFLICT specification"), and the table
 * moves to the publication that sends updates and deletes while the engine streams (it moved
 * only at the next start: those made meanwhile were lost). `verify` calls the copy equal.
 * A copy whose rows cannot take the key (two rows with one key value) keeps none, with a warning.
 */
import { expect, test } from "bun:test";
import postgres from "postgres";
import { Engine, mirrorConfig, sourceAndSink, verify, waitCaughtUp } from "./e2e.ts";

test("a key added to a keyless source table reaches the mirror's copy, and its updates and deletes are captured from then on", async () => {
  const db = await sourceAndSink("ka");
  const { sql, out } = db;
  let engine: Engine | null = null;
  try {
    await sql.unsafe(`
      create table plain (id int not null, v text);
      create table dup (id int not null, v text);
      insert into plain select g, 'v' || g from generate_series(1, 50) g;
      insert into dup values (1, 'a'), (1, 'b'), (2, 'c');`);
    const s = await mirrorConfig(db.srcUrl, db.dstUrl, ["public.plain", "public.dup"]);
    engine = new Engine(s);
    await engine.start();
    await engine.snapshotDone(["public.plain", "public.dup"]);
    await sql`insert into plain values (51, 'v51')`;
    await waitCaughtUp(db.srcUrl, db.dstUrl);
    const keys = async (t: string) => (await out`select count(*)::int as n from pg_constraint where conrelid = ${`public.${t}`}::regclass and contype = 'p'`)[0].n;
    expect(await keys("plain")).toBe(0);

    // The user fixes the source table; the source's copy of dup (two rows with id 1) cannot take it.
    await sql.unsafe(`alter table plain add primary key (id)`);
    await sql.unsafe(`delete from dup where v = 'b'`); // not published (dup has no row identity yet): the copy keeps both rows
    await sql.unsafe(`alter table dup add primary key (id)`);
    // The tables move to the publication that sends updates and deletes while the engine streams.
    for (let i = 0; i < 150 && !engine.log().includes("public.plain, public.dup have a row identity now"); i++) await Bun.sleep(100);
    expect(engine.log()).toContain("public.plain, public.dup have a row identity now: updates and deletes are captured from here on");
    await sql`insert into plain select g, 'v' || g from generate_series(52, 60) g`;
    await sql`update plain set v = 'changed' where id <= 5`;
    await sql`delete from plain where id > 57`;
    await sql`insert into dup values (3, 'd')`;
    await waitCaughtUp(db.srcUrl, db.dstUrl);
    expect(await keys("plain")).toBe(1);
    expect(await keys("dup")).toBe(0);
    const same = async () => expect(await out`select id, v from plain order by id`).toEqual(await sql`select id, v from plain order by id`);
    await same();
    expect((await out`select count(*)::int as n from plain`)[0].n).toBe(57);
    expect((await out`select v from plain where id = 1`)[0].v).toBe("changed");
    expect(engine.log()).toContain("the source table public.dup has a key (id) now, but its copy cannot take it: 1 key value(s) held by more than one row");
    expect(await engine.kill("SIGTERM")).toBe(0);

    // The next start streams both from the main publication.
    await engine.start();
    await Bun.sleep(1500);
    await sql`update plain set v = 'again' where id between 6 and 10`;
    await sql`delete from plain where id > 55`;
    await waitCaughtUp(db.srcUrl, db.dstUrl);
    await same();
    const v = await verify(s.config);
    expect(v.stdout).toMatch(/public\.plain\s+55\s+55\s+equal/);
    // dup's copy: (1,a) (1,b) (2,c); (3,d) went to the dead-letter queue, (1,b)'s delete was never published.
    expect(v.stdout).toMatch(/public\.dup\s+3\s+3\s+DIFFERENT/);
    expect(await engine.kill("SIGTERM")).toBe(0);
  } finally {
    if (engine?.proc) await engine.kill();
    await db.end();
  }
}, 180_000);
