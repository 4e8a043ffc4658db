/**
 * `ALTER TABLE … ADD COLUMN … DEFAULT <constant>` sends no change for the rows the table has: they
 * read the value from the catalog (attmissingval). The sinks add the column with that value in the
 * rows they hold, as Debezium's JDBC sink does from the default in its schema. Before, those rows
 * kept NULL in the copy and `verify` reported the table as differing for good.
 */
import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { join } from "node:path";
import { readFileSync, writeFileSync } from "node:fs";
import postgres from "postgres";
import { loadMissingValues, missingValueOf } from "../../src/source/postgres/missing-values.ts";
import { Engine, mirrorConfig, sourceAndSink, verify, waitCaughtUp } from "../engine/e2e.ts";

test("missingValueOf reads the one element of attmissingval's array text", () => {
  expect(missingValueOf("{7}")).toBe("7");
  expect(missingValueOf('{"a,b\\"c\\\\d"}')).toBe('a,b"c\\d');
  expect(missingValueOf("{(1,1),(0,0)}")).toBe("(1,1),(0,0)"); // a box: `;` is its delimiter
  expect(missingValueOf('{"{1,2}"}')).toBe("{1,2}");
  expect(missingValueOf('{"NULL"}')).toBe("NULL");
  expect(missingValueOf("{NULL}")).toBeUndefined();
  expect(missingValueOf(null)).toBeUndefined();
});

// The walsender sends a transaction once its commit record is flushed, a moment before other
// sessions see it: a lookup that quick found none of the new columns, and the copy's rows kept
// NULL (the e2e test below failed 1 run in 6 under load). Here the ALTER is still uncommitted when
// the lookup starts and commits 300 ms later: the lookup waits for it.
test("the lookup of missing values waits for the ALTER that added the columns to be visible", async () => {
  const db = await sourceAndSink("added_default_visible");
  await db.sql.unsafe("create table t (id int primary key)");
  const [{ oid }] = await db.sql.unsafe("select 'public.t'::regclass::oid::int as oid");
  let lookup: Promise<Map<string, string | null>>;
  const alter = postgres(db.srcUrl, { max: 1, onnotice: () => {} });
  try {
    await alter.begin(async (tx) => {
      await tx.unsafe("alter table t add column n numeric default 1.5, add column plain int");
      lookup = loadMissingValues(db.sql as never, oid, ["n", "plain"]);
      await Bun.sleep(300);
    });
    expect([...(await lookup!)]).toEqual([["n", "1.5"]]);
  } finally {
    await alter.end();
    await db.end();
  }
}, 30_000);

/** The columns added, their defaults, and what a row read before they were added has in Postgres. */
const ADDED = `
  add column t text default 'it''s, "quoted"',
  add column n numeric(6,2) default 1.5,
  add column ts timestamptz default '2024-02-29 23:59:59.123456+00',
  add column b boolean default true,
  add column arr int[] default '{1,2}',
  add column mood mood default 'ok',
  add column plain int`;

test("columns added with a constant default: postgres and sqlite copies read it in the rows they had, also when the engine was down at the ALTER", async () => {
  const db = await sourceAndSink("added_default");
  await db.sql.unsafe(`
    create type mood as enum ('ok', 'sad');
    create table a (id bigint primary key, v int);
    create table z (id bigint primary key, v int);
    create table w (id bigint primary key, v int);
    insert into w select g, g from generate_series(1, 5) g;
    insert into a select g, g from generate_series(1, 50) g;
    insert into z select g, g from generate_series(1, 50) g;`);
  const s = await mirrorConfig(db.srcUrl, db.dstUrl, ["public.a", "public.z", "public.w"], `  - name: lite
    from: [public.a, public.z]
    to: lite
`);
  const lite = join(s.dir, "copy.sqlite");
  writeFileSync(s.config, readFileSync(s.config, "utf8").replace("sinks:\n", `sinks:\n  lite: { type: sqlite, path: "${lite}" }\n`));
  const engine = new Engine(s);
  try {
    await engine.start();
    await engine.snapshotDone(["public.a", "public.z", "public.w"]);
    // a: altered while the engine streams; z: while it is stopped (the restart reads the catalog).
    await db.sql.unsafe(`alter table a ${ADDED}; insert into a (id, v) values (51, 51); update a set v = -1 where id = 2`);
    // A volatile default: the rows got their values in a rewrite, which is not sent. Said, not filled.
    await db.sql.unsafe(`alter table w add column vol timestamptz default clock_timestamp(); insert into w (id, v) values (6, 6)`);
    await waitCaughtUp(db.srcUrl, db.dstUrl);
    expect(await engine.kill("SIGTERM")).toBe(0);
    await db.sql.unsafe(`alter table z ${ADDED}; insert into z (id, v) values (51, 51)`);
    await engine.start();
    await waitCaughtUp(db.srcUrl, db.dstUrl);

    for (const table of ["a", "z"]) {
      const cols = "id, v, t, n::text as n, ts::text as ts, b, arr::text as arr, mood::text as mood, plain";
      const src = await db.sql.unsafe(`select ${cols} from ${table} order by id`);
      const copy = await db.out.unsafe(`select ${cols} from ${table} order by id`);
      expect(copy.length).toBe(51);
      expect(copy).toEqual(src);
      expect({ ...copy[0] } as Record<string, unknown>).toEqual({ id: "1", v: 1, t: `it's, "quoted"`, n: "1.50", ts: "2024-02-29 23:59:59.123456+00", b: true, arr: "{1,2}", mood: "ok", plain: null });
    }

    // sqlite: the rows it had read the default, but for the array (a text a row does not carry as
    // is: said in the log); the row inserted after carries every value.
    const sq = new Database(lite, { readonly: true });
    try {
      for (const table of ["a", "z"]) {
        const rows = sq.query(`select id, t, n, ts, b, arr, plain from ${table} where id in (1, 51) order by id`).all();
        expect(rows[0]).toEqual({ id: 1, t: `it's, "quoted"`, n: "1.50", ts: "2024-02-29 23:59:59.123456+00", b: 1, arr: null, plain: null });
        expect(rows[1]).toEqual({ id: 51, t: `it's, "quoted"`, n: "1.50", ts: "2024-02-29 23:59:59.123456+00", b: 1, arr: "[1,2]", plain: null });
      }
    } finally {
      sq.close();
    }
    const v = await verify(s.config);
    expect(v.stdout).toMatch(/^mirror\s+wh\s+public\.a\s+51\s+51\s+equal$/m);
    expect(v.stdout).toMatch(/^mirror\s+wh\s+public\.z\s+51\s+51\s+equal$/m);
    expect(engine.log()).toContain("the rows a has keep arr empty");
    expect(engine.log()).toContain("new columns vol of public.w have a default the table's rows got in a rewrite");
    expect([...(await db.out`select id::int, vol is null as empty from w order by id`)]).toEqual([1, 2, 3, 4, 5, 6].map((id) => ({ id, empty: id < 6 })));
    expect(await engine.kill("SIGTERM")).toBe(0);
  } catch (e) {
    console.log(engine.log().split("\n").filter((l) => /"level":(40|50|60)|column|schema change/.test(l)).slice(-15).join("\n"));
    throw e;
  } finally {
    if (engine.proc) await engine.kill();
    await db.end();
  }
}, 180_000);

test("a column added with a default inside a transaction larger than the memory budget (written to the sink in parts): the rows before it in the same transaction read the default", async () => {
  const db = await sourceAndSink("added_default_big");
  await db.sql.unsafe(`create table b (id bigint primary key, pad text); insert into b values (0, 'x')`);
  const s = await mirrorConfig(db.srcUrl, db.dstUrl, ["public.b"]);
  writeFileSync(s.config, readFileSync(s.config, "utf8").replace("heartbeat_interval: 1s", "heartbeat_interval: 1s\n  memory_budget: 1MiB"));
  const engine = new Engine(s);
  try {
    await engine.start();
    await engine.snapshotDone(["public.b"]);
    await db.sql.unsafe(`begin;
      insert into b select g, repeat('p', 200) from generate_series(1, 20000) g;
      alter table b add column c int default 5;
      insert into b select g, 'q', 6 from generate_series(20001, 30000) g;
      commit`);
    await waitCaughtUp(db.srcUrl, db.dstUrl);
    const [copy] = await db.out`select count(*)::int as n, count(*) filter (where c = 5)::int as five, count(*) filter (where c = 6)::int as six from b`;
    expect(copy).toEqual({ n: 30001, five: 20001, six: 10000 });
    // it was spilled and handed over in parts (the sink's open-transaction path, with a savepoint around the ALTER)
    const metrics = await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text();
    expect(Number(/^cdc_engine_source_spilled_transactions_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(await engine.kill("SIGTERM")).toBe(0);
  } catch (e) {
    console.log(engine.log().split("\n").filter((l) => /"level":(40|50|60)/.test(l)).slice(-10).join("\n"));
    throw e;
  } finally {
    if (engine.proc) await engine.kill();
    await db.end();
  }
}, 120_000);
