/**
 * Rows kept as JSON outside memory (the dead-letter queue; the rows handed over from a recreated
 * slot) lost what an array carries beside its elements: lower bounds other than 1 and box[]'s ';'
 * delimiter. A dead letter with `'[0:1]={1,2}'`, replayed into the postgres mirror after the
 * refusal was fixed, was stored as `{1,2}` (a[0] became a[1]); one with a box[] was refused again
 * as a malformed array literal.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { decodeRow, encodeRow } from "../../src/dlq/row-codec.ts";
import { TypeDecoders } from "../../src/source/postgres/type-decoders.ts";
import { toPgText } from "../../src/sinks/postgres/values.ts";
import { col } from "../sinks/helpers.ts";

let sql: postgres.Sql;
beforeAll(async () => {
  const pg = await sharedPg("system");
  sql = postgres(pg.url(await createDatabase(pg, "qa_dlq_bounds")), { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql.end();
});

// column, type oid (array types), Postgres type, source text
const CASES: [string, number, string, string][] = [
  ["a_lb", 1007, "int4[]", "[0:1]={1,2}"],
  ["a_lb2", 1007, "int4[]", "[-3:-2][5:5]={{1},{NULL}}"],
  ["a_f8", 1022, "float8[]", "[0:2]={NaN,-Infinity,-0}"],
  ["a_by", 1001, "bytea[]", '[2:3]={"\\\\x00ff",NULL}'],
  ["a_i8", 1016, "int8[]", "[0:0]={9223372036854775807}"],
  ["a_box", 1020, "box[]", "{(1,1),(0,0);(2,2),(1,1)}"],
  ["a_plain", 1009, "text[]", '{a,"b,c",NULL}'],
];

test("bounds and delimiters survive the dead-letter codec: the postgres sink prints what the source holds", async () => {
  const types = new TypeDecoders([{ oid: 1020, typtype: "b", elem: 603, base: 0, delim: ";", name: "_box" }]);
  const row: Record<string, unknown> = { id: 7 };
  for (const [name, oid, type, text] of CASES) {
    const [{ source }] = await sql.unsafe(`select $1::${type}::text as source`, [text]);
    row[name] = types.decode(oid, source);
  }
  const columns = [col("id", 23), ...CASES.map(([name, oid]) => col(name, oid))];
  const back = decodeRow(encodeRow(row), columns);
  expect(back.id).toBe(7);
  for (const [name, , type, text] of CASES) {
    const [{ source, printed }] = await sql.unsafe(`select $1::${type}::text as source, $2::${type}::text as printed`, [text, toPgText(back[name])]);
    expect([name, printed]).toEqual([name, source]);
  }
});
