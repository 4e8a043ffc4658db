import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { build, ins, relation, txn } from "./harness.ts";

/**
 * `x::real` in a pipeline: a select item and the aggregates over it are typed and valued as
 * Postgres 15 types and values them (sum(real) is a real, avg(real) a double over the float4
 * values, min/max a real). Expected answers come from the test's PostgreSQL on the same rows.
 */
const T = relation("public.m", [["id", 23, "integer", true], ["g", 23], ["f", 701]]);
const RELS = new Map([[T.table, T]]);
const FS = [0.1, 0.2, 0.7, 1234567.3]; // 1234567.3 as a real is 1234567.25: Postgres prints 1234567.2

let sql: postgres.Sql;
beforeAll(async () => {
  const pg = await sharedPg("system");
  sql = postgres(pg.url(await createDatabase(pg, "real_aggs")), { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end();
});

/** Postgres' answer over FS as float8 rows: each column's value (as a number) and type. */
async function pgSays(select: Record<string, string>): Promise<{ values: Record<string, number>; types: Record<string, string> }> {
  const cols = Object.entries(select);
  const rows = FS.map((f) => `('${f}'::float8)`).join(",");
  const [r] = await sql.unsafe(`select ${cols.map(([n, e]) => `(${e})::text as ${n}, pg_typeof(${e})::text as ${n}_t`).join(", ")} from (values ${rows}) t(f)`);
  return { values: Object.fromEntries(cols.map(([n]) => [n, Number(r[n])])), types: Object.fromEntries(cols.map(([n]) => [n, r[`${n}_t`]])) };
}

describe("real in a pipeline", () => {
  test("select items: real op real is real, real op double is double, as Postgres", async () => {
    const h = await build({ from: "public.m", select: ["id", "f::real AS r", "f::real + f::real AS rr", "f::real + f AS rf", "f::real * 2 AS r2"], to: { sink: "out", table: "o", key: ["id"] } }, { relations: RELS });
    expect(h.compiled.outputColumns(RELS).map((c) => [c.name, c.typeName])).toEqual([["id", "integer"], ["r", "real"], ["rr", "real"], ["rf", "double precision"], ["r2", "double precision"]]);
    h.run(txn("2024-01-01T00:00:00Z", [ins(T, { id: 1, g: 1, f: 0.1 })]));
    const [r] = await sql.unsafe(`select (0.1::float8::real)::text r, (0.1::float8::real + 0.1::float8::real)::text rr, (0.1::float8::real + 0.1::float8)::text rf, (0.1::float8::real * 2)::text r2`);
    expect(h.sink.sorted()).toEqual([{ id: 1, r: Number(r.r), rr: Number(r.rr), rf: Number(r.rf), r2: Number(r.r2) }]);
    expect(h.sink.sorted()[0]).toEqual({ id: 1, r: 0.1, rr: 0.2, rf: 0.20000000149011612, r2: 0.20000000298023224 });
  });

  test("SUM, AVG, MIN, MAX of f::real: values and types as Postgres", async () => {
    const aggs = { s: "SUM(f::real)", a: "AVG(f::real)", lo: "MIN(f::real)", hi: "MAX(f::real)" };
    const h = await build({ from: "public.m", group_by: ["g"], aggregate: aggs, to: { sink: "out", table: "o", key: ["g"] } }, { relations: RELS });
    h.run(txn("2024-01-01T00:00:00Z", FS.map((f, i) => ins(T, { id: i + 1, g: 1, f }))));
    const pg = await pgSays({ s: "sum(f::real)", a: "avg(f::real)", lo: "min(f::real)", hi: "max(f::real)" });
    expect(h.sink.sorted()).toEqual([{ g: 1, ...pg.values }]);
    expect(h.sink.sorted()).toEqual([{ g: 1, s: 1234568.2, a: 308642.06249999814, lo: 0.1, hi: 1234567.2 }]);
    expect(h.compiled.outputColumns(RELS).slice(1).map((c) => c.typeName)).toEqual(["s", "a", "lo", "hi"].map((n) => pg.types[n]));
  });
});
