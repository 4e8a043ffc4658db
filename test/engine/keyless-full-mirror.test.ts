/**
 * Mirrors of a table without a key under REPLICA IDENTITY FULL (compiled binary, real servers):
 * updates and deletes are applied to ONE row equal to the old row in every column, as
 * PostgreSQL's own replication does, in a postgres, a MariaDB and a SQLite sink. Duplicates,
 * NULLs, json and point (no `=` in Postgres), a real (FLOAT in MariaDB), an unchanged TOASTed
 * text, an insert and a delete of it in one transaction; the copies equal the source as
 * multisets, row for row, and `verify` says so. A change that finds no row is skipped and counted.
 */
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import mysql from "mysql2/promise";
import { mysqlUrl, runBinary } from "../helpers/index.ts";
import { Engine, waitCaughtUp } from "./e2e.ts";
import { threeSinkMirror } from "./three-sinks.ts";

const DDL = `
  create table kf (dev text, reading int, f4 real, note json, big text, p point);
  alter table kf alter column big set storage external;
  alter table kf replica identity full;`;

/** A text of ~9.6 KB stored out of line (storage external): an update leaving it alone sends it as unchanged TOAST. */
const BIG = (seed: string) => `(select string_agg(md5('${seed}' || g), '') from generate_series(1, 300) g)`;

/** One line per row, sorted: the multiset, with the big text by length and digest. */
const PG_ROWS = `select coalesce(dev, '∅') || '|' || coalesce(reading::text, '∅') || '|' || coalesce(f4::text, '∅') || '|' || coalesce(note::text, '∅') || '|' || coalesce(length(big) || ':' || md5(big), '∅') || '|' || coalesce(p::text, '∅') as r from kf order by 1`;

async function sqliteRows(path: string): Promise<string[]> {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.query("select dev, reading, f4, note, big, p from kf").all() as Record<string, unknown>[];
    return rows.map((r) => line(r)).sort();
  } finally {
    db.close();
  }
}

async function mariaRows(url: string): Promise<string[]> {
  const c = await mysql.createConnection({ uri: url });
  try {
    const [rows] = await c.query("select dev, reading, f4, cast(note as char) as note, big, p from kf"); // the text as stored, not parsed by mysql2
    return (rows as Record<string, unknown>[]).map((r) => line(r)).sort();
  } finally {
    await c.end();
  }
}

/** Same line as PG_ROWS from a sink's values (json as stored, a point as its text). */
function line(r: Record<string, unknown>): string {
  const f4 = r.f4 === null ? "∅" : String(Number(r.f4));
  const big = r.big === null ? "∅" : `${String(r.big).length}:${new Bun.CryptoHasher("md5").update(String(r.big)).digest("hex")}`;
  const note = r.note === null ? "∅" : typeof r.note === "string" ? r.note : JSON.stringify(r.note);
  return [r.dev ?? "∅", r.reading ?? "∅", f4, note, big, r.p ?? "∅"].map(String).join("|");
}

describe("mirrors of keyless REPLICA IDENTITY FULL tables", () => {
  test("updates and deletes reach postgres, MariaDB and SQLite: one row equal to the old row each; the copies equal the source as multisets", async () => {
    const t = await threeSinkMirror("kf", "public.kf", { checkpointInterval: "1s", batchDelay: "200ms" });
    const { sql, out, cfg, lite, myDb } = t;
    const engine = new Engine(cfg);
    try {
      await sql.unsafe(DDL);
      // Snapshot: three equal rows, two all-NULL rows, rows with a big text, json and a point.
      await sql.unsafe(`
        insert into kf values ('a', 1, 0.1, '{"x": 1}', null, '(1,2)'), ('a', 1, 0.1, '{"x": 1}', null, '(1,2)'), ('a', 1, 0.1, '{"x": 1}', null, '(1,2)');
        insert into kf values (null, null, null, null, null, null), (null, null, null, null, null, null);
        insert into kf values ('b', 1, 2.5, '{"b":  [1, 2]}', ${BIG("b")}, '(0.5,-3)'), ('b', 2, 2.5, '{"b":  [1, 2]}', ${BIG("b")}, '(0.5,-3)');`);
      await engine.start();
      await engine.snapshotDone(["public.kf"]);

      // Streamed, each in its own transaction unless said otherwise.
      await sql`update kf set reading = 7 where ctid = (select ctid from kf where dev = 'a' limit 1)`; // one of three equal rows
      await sql`delete from kf where ctid = (select ctid from kf where dev = 'a' and reading = 1 limit 1)`; // one of the two left
      await sql`update kf set reading = 3 where ctid = (select ctid from kf where dev is null limit 1)`; // NULLs equal NULLs
      await sql`update kf set reading = reading + 10 where dev = 'b'`; // big unchanged: sent as unchanged TOAST
      await sql`update kf set note = '{"y": [true, null]}', p = '(9,9)' where dev = 'b' and reading = 11`; // json and point in the old row
      await sql`update kf set big = 'small now' where dev = 'b' and reading = 12`;
      await sql.begin(async (tx) => {
        // insert + delete of the same row in one transaction, next to an equal row that must stay
        await tx`insert into kf values ('a', 1, 0.1, '{"x": 1}', null, '(1,2)')`;
        await tx`insert into kf values ('t', 1, 1.5, '[]', 'gone', '(0,0)')`;
        await tx`delete from kf where dev = 't'`;
        await tx`delete from kf where ctid = (select ctid from kf where dev = 'a' and reading = 1 limit 1)`;
      });
      await sql`insert into kf values ('c', 1, -0.25, '{"c": "é"}', 'c', null)`;
      await sql`delete from kf where dev = 'c'`; // insert and delete in separate transactions, likely one batch
      await sql`insert into kf values ('d', 1, 3.25, null, 'd', null), ('d', 1, 3.25, null, 'd', null)`;
      await sql`delete from kf where dev is null and reading is null`; // the all-NULL row left

      await waitCaughtUp(t.srcUrl, t.dstUrl);
      const want = (await sql.unsafe(PG_ROWS)).map((r) => r.r as string);
      expect(want).toHaveLength(7);
      expect(want.filter((r) => r.startsWith("a|"))).toEqual(["a|1|0.1|{\"x\": 1}|∅|(1,2)", "a|7|0.1|{\"x\": 1}|∅|(1,2)"]);
      expect(want.filter((r) => r.startsWith("b|11|"))[0]).toMatch(/^b\|11\|2\.5\|\{"y": \[true, null\]\}\|9600:[0-9a-f]{32}\|\(9,9\)$/);
      expect(want.filter((r) => r.startsWith("d|"))).toHaveLength(2);

      expect((await out.unsafe(PG_ROWS)).map((r) => r.r as string)).toEqual(want);
      const ok = await runBinary(["verify", "--config", cfg.config, "--wait", "60"], { timeoutMs: 120_000 });
      expect(ok.stdout).toMatch(/mirror\s+wh\s+public\.kf\s+7\s+7\s+equal/);
      expect(ok.stdout).toMatch(/tolite\s+lite\s+public\.kf\s+7\s+7\s+equal/);
      expect(ok.stdout).toMatch(/tomaria\s+maria\s+public\.kf\s+7\s+7\s+equal/);
      expect(ok.code).toBe(0);
      // The sinks' own values, row for row (verify ran with --wait: every sink has caught up).
      expect(await sqliteRows(lite)).toEqual([...want].sort());
      expect(await mariaRows(`${mysqlUrl()}/${myDb}`)).toEqual([...want].sort());

      // A delete whose row the copy no longer has: skipped and counted, not an error.
      await out`delete from kf where dev = 'd' and ctid = (select ctid from kf where dev = 'd' limit 1)`;
      await sql`delete from kf where dev = 'd'`;
      await waitCaughtUp(t.srcUrl, t.dstUrl);
      for (let i = 0; i < 50 && !engine.log().includes("found no row equal to their old row"); i++) await Bun.sleep(100);
      expect(engine.log()).toMatch(/"table":"public\.kf".*"deletes":1.*0 update\(s\) and 1 delete\(s\) of public\.kf \(no key, REPLICA IDENTITY FULL\) found no row equal/);
      const metrics = await (await fetch(`http://127.0.0.1:${cfg.port}/metrics`)).text();
      expect(metrics).toContain(`cdc_engine_sink_rows_unmatched_total{sink="wh",pipeline="mirror",table="public.kf",op="delete"} 1`);
      expect((await out`select count(*)::int as n from kf where dev = 'd'`)[0].n).toBe(0);
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine.proc) await engine.kill();
      await t.end();
    }
  }, 240_000);
});
