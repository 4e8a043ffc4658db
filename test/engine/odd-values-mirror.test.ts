/**
 * Odd values and names through a mirror into Postgres, with the compiled binary as a user runs
 * it: every column of every row must read back as the same text in the sink, in the initial
 * snapshot and in streamed changes, and `verify` must call the tables equal.
 * Found by QA: a float -0 arrived as 0; an array of enums became a text column holding
 * `{"sad","with space"}` (the source prints `{sad,"with space"}`), which `verify` reported;
 * a schema with a space in its name could not be named in `from:`. A long run of inserts takes
 * the COPY path, which copies the source's text as sent.
 */
import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { Engine, mirrorConfig, verify, waitCaughtUp } from "./e2e.ts";

const DDL = `
  create type mood as enum ('sad', 'happy', 'with space', 'it''s "odd"', 'a,b{c}');
  create type pair as (a int, b text);
  create schema "Odd Schema";
  create table "Odd Schema"."Tåble ""x"".y" (id int primary key, "Select" text, "col with space" int);
  create table public.odd (
    id int primary key, f4 float4, f8 float8, n numeric, i8 int8, m money, ch char(5), t text, b bytea,
    j json, jb jsonb, d date, tz timestamptz, ts timestamp, tt timetz, iv interval, ip inet, mac macaddr,
    moods mood[], mood1 mood, ia int4[], ta text[], na numeric[], fa float8[], p pair, r int4range, u uuid);`;

const ROWS = `
  insert into public.odd values
  (1, '-0', '-0', '123456789012345678901234567890.123456789012', 9223372036854775807, '-92233720368547758.08', 'ab',
   E'tab\\there\\nnew \\\\ "q" ''s', '\\x00ff', '{"a": "\\u00e9"}', '{"k": [1, {"x": null}]}', '0044-03-15 BC', 'infinity',
   '2024-02-29 23:59:59.999999', '12:00:00-14', '-1 days +00:00:00.000001', '::1', '08:00:2b:01:02:03',
   '{sad,"with space","it''s \\"odd\\"","a,b{c}",NULL}', 'a,b{c}', '{{1,2},{3,NULL}}', '{"a,b","c\\"d","{e}","NULL",NULL,""}',
   '{NaN,-Infinity,1.50}', '{-0,Infinity,NaN}', row(1, 'x, "y"'), '[1,10)', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
  (2, 'NaN', '-Infinity', 'NaN', -9223372036854775808, 0, null, '😀 שלום e\u0301', '', '[]', '{}', 'infinity', '-infinity',
   '294276-12-31 23:59:59.999999', null, null, null, null, '{}', 'with space', '[0:0]={5}', '{}', '{}', '{}', row(null, null), 'empty', null);`;

describe("odd values through a postgres mirror (compiled binary)", () => {
  test("every column reads back as the same text, snapshot and stream; verify says equal", async () => {
    const pg = await sharedPg("system");
    const [src, dst] = [await createDatabase(pg, "odd_src"), await createDatabase(pg, "odd_dst")];
    const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
    const out = postgres(pg.url(dst), { max: 1, onnotice: () => {} });
    let engine: Engine | null = null;
    // Each column as text, in UTC: what a user compares.
    const text = async (db: postgres.Sql, table: string) => {
      await db`set timezone = 'UTC'`;
      return db.unsafe(`select to_jsonb(x) - '' as j from (select * from ${table}) x order by id`).then((rs) => rs.map((r) => r.j));
    };
    const asText = (table: string, cols: string[]) => `(select ${cols.map((c) => `${c}::text as ${c}`).join(", ")} from ${table}) s`;
    const oddCols = ["id", "f4", "f8", "n", "i8", "m", "ch", "t", "b", "j", "jb", "d", "tz", "ts", "tt", "iv", "ip", "mac", "moods", "mood1", "ia", "ta", "na", "fa", "p", "r", "u", "a_n", "a_ip", "a_ia", "a_mood", "a_vc"];
    const weird = `"Odd Schema"."Tåble ""x"".y"`;
    try {
      await sql.unsafe(DDL);
      await sql.unsafe(ROWS);
      await sql.unsafe(`insert into ${weird} values (1, 'sel', 3)`);
      const s = await mirrorConfig(pg.url(src), pg.url(dst), ["public.odd", "Odd Schema.*"]);
      engine = new Engine(s);
      await engine.start();
      await engine.snapshotDone(["public.odd", 'Odd Schema.Tåble \\"x\\".y']); // as the JSON log line has it
      // Streamed: the same values again under other keys, and an update of every column.
      await sql.unsafe(`insert into public.odd select id + 10, f4, f8, n, i8, m, ch, t, b, j, jb, d, tz, ts, tt, iv, ip, mac, moods, mood1, ia, ta, na, fa, p, r, u from public.odd`);
      // 1,200 rows in one transaction: a run this long is COPYed, from the bytes pgoutput sent (Change.afterWire).
      await sql.unsafe(`insert into public.odd select id + 100 + 10 * g, f4, f8, n, i8, m, ch, t, b, j, jb, d, tz, ts, tt, iv, ip, mac, moods, mood1, ia, ta, na, fa, p, r, u from public.odd, generate_series(1, 600) g where id < 3`);
      await sql.unsafe(`update public.odd set f4 = '-0', fa = '{-0}', moods = '{happy,"a,b{c}"}' where id = 2`);
      await sql.unsafe(`insert into public.odd (id, moods) values (20, '{sad,happy}'), (21, '{happy,sad}')`);
      // Lower bounds other than 1 (printed as a [lo:hi]= prefix) stay where they were.
      await sql.unsafe(`update public.odd set ia = '[0:1][-1:0]={{1,2},{3,NULL}}', ta = '[5:5]={x}', na = '[-3:-2]={NaN,1.5}' where id = 11`);
      // The same with a TOASTed column left unchanged: the row is printed from its values, not copied as sent.
      await sql.unsafe(`update public.odd set t = (select string_agg(md5(g::text), '') from generate_series(1, 3000) g) where id = 12`);
      await sql.unsafe(`update public.odd set ia = '[-1:0]={4,5}' where id = 12`);
      await sql.unsafe(`update ${weird} set "Select" = 'upd', "col with space" = 4`);
      // Columns added while streaming keep their exact types (they were numeric, text, text, text, varchar).
      await sql.unsafe(`alter table public.odd add column a_n numeric(10,2), add column a_ip inet, add column a_ia int8[], add column a_mood mood, add column a_vc varchar(5)`);
      await sql.unsafe(`insert into public.odd (id, a_n, a_ip, a_ia, a_mood, a_vc) values (30, 12.5, '10.0.0.1/8', '{9223372036854775807,NULL}', 'with space', 'abcde')`);
      await waitCaughtUp(pg.url(src), pg.url(dst));

      const want = await text(sql, asText("public.odd", oddCols));
      const got = await text(out, asText("public.odd", oddCols));
      expect(got.length).toBe(1207);
      for (let i = 0; i < want.length; i++) expect(got[i]).toEqual(want[i]);
      expect(got.find((r) => r.id === "1")!.f4).toBe("-0");
      expect([got.find((r) => r.id === "2")!.ia, got.find((r) => r.id === "12")!.ia, got.find((r) => r.id === "11")!.ia]).toEqual(["[0:0]={5}", "[-1:0]={4,5}", "[0:1][-1:0]={{1,2},{3,NULL}}"]);
      expect(got.find((r) => r.id === "11")!.moods).toBe(`{sad,"with space","it's \\"odd\\"","a,b{c}",NULL}`);
      // The enum array is an array in the sink (text[]), not text.
      const [{ t }] = await out`select format_type(atttypid, atttypmod) as t from pg_attribute where attrelid = 'public.odd'::regclass and attname = 'moods'`;
      expect(t).toBe("text[]");
      const added = await out`select attname as c, format_type(atttypid, atttypmod) as t from pg_attribute where attrelid = 'public.odd'::regclass and attname like 'a\_%' order by attnum`;
      expect(added.map((r) => `${r.c} ${r.t}`)).toEqual(["a_n numeric(10,2)", "a_ip inet", "a_ia bigint[]", "a_mood text", "a_vc character varying(5)"]);
      expect([...(await out.unsafe(`select * from ${weird}`))] as unknown[]).toEqual([{ id: 1, Select: "upd", "col with space": 4 }]);

      const v = await verify(s.config);
      expect(v.stdout + v.stderr).not.toContain("differ");
      expect(v.code).toBe(0);
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine?.proc) await engine.kill();
      await sql.end();
      await out.end();
    }
  }, 180_000);
});
