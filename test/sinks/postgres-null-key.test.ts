/**
 * A group_by / window key can be NULL (SQL's GROUP BY makes one group of the NULLs). The
 * Postgres sink keyed such a target by a primary key, which refuses NULL: every emit of the
 * NULL group went to the DLQ and the group was missing. From PostgreSQL 15 the target gets a
 * UNIQUE NULLS NOT DISTINCT constraint: the NULL group is one row, upserted and deleted like
 * any other, on each write path (multi-row VALUES, unnest, COPY staging).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { PostgresSink } from "../../src/sinks/postgres/sink.ts";
import { postgresSinkConfig } from "../../src/sinks/postgres/config.ts";
import type { OutputTable } from "../../src/sinks/sink.ts";
import { batch, col, context, OID, rec, type TestContext } from "./helpers.ts";

let sql: postgres.Sql;
let sink: PostgresSink;
let ctx: TestContext;
beforeAll(async () => {
  const pg = await sharedPg("system");
  const url = pg.url(await createDatabase(pg, "pnullkey"));
  sql = postgres(url, { max: 1, onnotice: () => {} });
  sink = new PostgresSink(postgresSinkConfig.parse({ url }));
  ctx = context("wh");
  await sink.open(ctx);
});
afterAll(async () => {
  await sink.close();
  await sql.end();
});

const agg: OutputTable = {
  name: "order_agg",
  columns: [col("customer", OID.text, { key: true }), col("window_start", OID.timestamptz, { key: true }), col("n", OID.int8)],
  key: ["customer", "window_start"],
  nullableKey: true,
};
const W = "2024-01-01 00:00:00+00";
const rows = async () => (await sql`select coalesce(customer, '<null>') as c, n::text as n from order_agg order by customer nulls first`).map((r) => `${r.c}=${r.n}`);

test("the NULL group is one row: upserted, replaced and deleted on every write path", async () => {
  // One record per statement (VALUES), then runs of several (unnest).
  await sink.write(batch("p", [rec(agg, "upsert", { customer: null, window_start: W, n: 1n }, 10n, 0)]));
  await sink.write(batch("p", [rec(agg, "upsert", { customer: "a", window_start: W, n: 1n }, 20n, 0), rec(agg, "upsert", { customer: null, window_start: W, n: 2n }, 20n, 1)]));
  await sink.write(batch("p", [rec(agg, "upsert", { customer: null, window_start: W, n: 3n }, 30n, 0), rec(agg, "upsert", { customer: "a", window_start: W, n: 4n }, 30n, 1)]));
  expect(await rows()).toEqual(["<null>=3", "a=4"]);
  // A run of 1,200 goes through the COPY staging table and ON CONFLICT from it.
  const many = Array.from({ length: 1200 }, (_, i) => rec(agg, "upsert", { customer: i === 600 ? null : `c${i}`, window_start: W, n: BigInt(i) }, 40n, i));
  await sink.write(batch("p", many));
  expect((await rows()).slice(0, 2)).toEqual(["<null>=600", "a=4"]);
  const [{ total }] = await sql`select count(*)::int as total from order_agg`;
  expect(total).toBe(1201);
  // Deletes: the NULL group among keyed ones, alone, and a NULL key that matches nothing.
  await sink.write(batch("p", [rec(agg, "delete", { customer: null, window_start: W }, 50n, 0), rec(agg, "delete", { customer: "c1", window_start: W }, 50n, 1), rec(agg, "delete", { customer: "c2", window_start: W }, 50n, 2)]));
  expect((await rows()).slice(0, 2)).toEqual(["a=4", "c0=0"]);
  await sink.write(batch("p", [rec(agg, "delete", { customer: null, window_start: W }, 60n, 0)]));
  const [{ left }] = await sql`select count(*)::int as left from order_agg`;
  expect(left).toBe(1198);
  expect(ctx.dead).toEqual([]);
  const [{ def }] = await sql`select pg_get_constraintdef(oid) as def from pg_constraint where conrelid = 'order_agg'::regclass and contype = 'u'`;
  expect(def).toBe("UNIQUE NULLS NOT DISTINCT (customer, window_start)");
});

test("a source primary key (a mirror) is still a primary key", async () => {
  const t: OutputTable = { name: "mirror_t", columns: [col("id", OID.int8, { key: true }), col("v", OID.text)], key: ["id"] };
  await sink.write(batch("p", [rec(t, "upsert", { id: 1n, v: "x" }, 70n, 0)]));
  const [{ def }] = await sql`select pg_get_constraintdef(oid) as def from pg_constraint where conrelid = 'mirror_t'::regclass and contype = 'p'`;
  expect(def).toBe("PRIMARY KEY (id)");
});
