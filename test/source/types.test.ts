import { describe, expect, test } from "bun:test";
import { pgFlavors } from "../helpers/index.ts";
import { sourceConfig, startSource, testDb } from "./source-helpers.ts";

// Each column: SQL type, SQL literal, the value the engine must see.
const COLUMNS: [string, string, string, unknown][] = [
  ["c_int2", "int2", "-32768", -32768],
  ["c_int4", "int4", "2147483647", 2147483647],
  ["c_int8", "int8", "9223372036854775807", 9223372036854775807n],
  ["c_int8n", "int8", "-9007199254740993", -9007199254740993n],
  ["c_num", "numeric", "12345678901234567890.123456789012", "12345678901234567890.123456789012"],
  ["c_num2", "numeric(10,2)", "0.10", "0.10"],
  ["c_num_nan", "numeric", "'NaN'", "NaN"],
  ["c_num_inf", "numeric", "'-Infinity'", "-Infinity"],
  ["c_f4", "float4", "1.5", 1.5],
  ["c_f8", "float8", "0.1", 0.1],
  ["c_f8_nan", "float8", "'NaN'", Number.NaN],
  ["c_f8_inf", "float8", "'Infinity'", Number.POSITIVE_INFINITY],
  ["c_bool", "bool", "true", true],
  ["c_bool_f", "bool", "false", false],
  ["c_text", "text", `'héllo, "wörld" \\ {x}'`, `héllo, "wörld" \\ {x}`],
  ["c_varchar", "varchar(10)", "'abc'", "abc"],
  ["c_char", "char(5)", "'ab'", "ab   "],
  ["c_bytea", "bytea", "'\\x00ff10'", new Uint8Array([0, 255, 16])],
  ["c_uuid", "uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],
  ["c_json", "json", `'{"a":  1, "big": 12345678901234567890}'`, `{"a":  1, "big": 12345678901234567890}`],
  ["c_jsonb", "jsonb", `'{"b":[1,2],"a":null}'`, `{"a": null, "b": [1, 2]}`],
  ["c_date", "date", "'2024-02-29'", "2024-02-29"],
  ["c_date_inf", "date", "'infinity'", "infinity"],
  ["c_time", "time", "'12:34:56.123456'", "12:34:56.123456"],
  ["c_timetz", "timetz", "'12:34:56.123456+02'", "12:34:56.123456+02"],
  ["c_ts", "timestamp", "'2024-01-02 03:04:05.123456'", "2024-01-02 03:04:05.123456"],
  ["c_ts_inf", "timestamp", "'-infinity'", "-infinity"],
  ["c_tstz", "timestamptz", "'2024-01-02 03:04:05.123456+02'", "2024-01-02 01:04:05.123456+00"],
  ["c_interval", "interval", "'1 year 2 months 3 days 04:05:06.789'", "1 year 2 mons 3 days 04:05:06.789"],
  ["c_inet", "inet", "'192.168.0.1/24'", "192.168.0.1/24"],
  ["c_cidr", "cidr", "'10.0.0.0/8'", "10.0.0.0/8"],
  ["c_mac", "macaddr", "'08:00:2b:01:02:03'", "08:00:2b:01:02:03"],
  ["c_int4arr", "int4[]", "'{1,NULL,3}'", [1, null, 3]],
  ["c_int8arr", "int8[]", "'{9223372036854775807,-1}'", [9223372036854775807n, -1n]],
  ["c_textarr", "text[]", `'{{a,"b c"},{NULL,"d\\"e"}}'`, [["a", "b c"], [null, 'd"e']]],
  ["c_numarr", "numeric[]", "'{1.50,NaN}'", ["1.50", "NaN"]],
  ["c_tsarr", "timestamptz[]", `'{"2024-01-02 03:04:05.5+00"}'`, ["2024-01-02 03:04:05.5+00"]],
  ["c_emptyarr", "int4[]", "'{}'", []],
  ["c_textarr2", "text[]", `'{"NULL",NULL,"a\\\\b","",", {}"}'`, ["NULL", null, "a\\b", "", ", {}"]],
  ["c_lbarr", "int4[]", "'[0:1]={7,8}'", [7, 8]],
  ["c_boolarr", "bool[]", "'{t,f,NULL}'", [true, false, null]],
  ["c_bytearr", "bytea[]", `'{"\\\\x0102"}'`, [new Uint8Array([1, 2])]],
  ["c_jsonbarr", "jsonb[]", `array['{"a": 1}'::jsonb]`, ['{"a": 1}']],
  ["c_enum", "mood", "'happy'", "happy"],
  ["c_enumarr", "mood[]", "'{sad,happy}'", ["sad", "happy"]],
  ["c_domain", "posint", "5", 5],
  ["c_domain8", "bigid", "9007199254740993", 9007199254740993n],
  ["c_comp", "pair", "row(1, 'x y')::pair", `(1,"x y")`],
  ["c_null", "int8", "null", null],
];

describe.each(pgFlavors())("every type round-trips exactly (%s)", (flavor) => {
  test("snapshot and stream give the same exact values", async () => {
    const db = await testDb(flavor);
    await db.sql.unsafe(`
      create type mood as enum ('sad', 'happy');
      create domain posint as int4 check (value > 0);
      create domain bigid as int8;
      create type pair as (a int, b text);
      create table t (id int primary key, ${COLUMNS.map(([n, t]) => `${n} ${t}`).join(", ")});
      insert into t values (1, ${COLUMNS.map((c) => c[2]).join(", ")});`);
    const cfg = sourceConfig(db.url);
    const { source, collector } = await startSource(cfg, ["public.t"]);
    try {
      await db.sql.unsafe(`insert into t values (2, ${COLUMNS.map((c) => c[2]).join(", ")})`);
      await collector.waitFor(() => collector.changes.length >= 2, "snapshot row and streamed row");
      const [snap, streamed] = collector.changes;
      expect(snap.op).toBe("read");
      expect(streamed.op).toBe("insert");
      expect(snap.after!.id).toBe(1);
      expect(streamed.after!.id).toBe(2);
      for (const [name, , , want] of COLUMNS) {
        for (const row of [snap.after!, streamed.after!]) {
          expect({ name, value: row[name] }).toEqual({ name, value: want });
        }
      }
      expect(streamed.key).toEqual({ id: 2 });
      expect(streamed.relation.columns.find((c) => c.name === "c_num2")!.typeName).toBe("numeric(10,2)");
    } finally {
      await source.stop();
      await db.end();
    }
  }, 60_000);
});
