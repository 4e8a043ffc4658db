import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { PostgresSink } from "../../src/sinks/postgres/sink.ts";
import { postgresSinkConfig } from "../../src/sinks/postgres/config.ts";
import { planBatch } from "../../src/sinks/postgres/plan.ts";
import { openSinkPg } from "../../src/sinks/postgres/connect.ts";
import { writerClientOptions } from "../../src/sinks/postgres/pipelined-write.ts";
import type { OutputRecord, OutputTable } from "../../src/sinks/sink.ts";
import { context, type TestContext } from "./helpers.ts";

// Big runs (≥ 1000 upserts) go through COPY: source inserts straight into the table (falling back
// to staging + upsert when the server refuses), everything else through the staging table.

const col = (name: string, typeName: string, typeOid: number, isKey = false) => ({ name, typeName, typeOid, typeMod: -1, isKey });
const table = (name: string): OutputTable => ({ name, key: ["id"], columns: [col("id", "bigint", 20, true), col("n", "integer", 23), col("t", "text", 25)] });
const rec = (t: OutputTable, id: number, n: unknown, op: "insert" | "update" | "read", lsn: bigint): OutputRecord => ({
  op: "upsert",
  table: t,
  row: { id: BigInt(id), n, t: `row ${id}\tx\\y` },
  lsn,
  index: id,
  commitTime: 0n,
  source: { table: "public.src", op, xid: 1 },
});
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

let url: string;
let sql: postgres.Sql;
let sink: PostgresSink;
let ctx: TestContext;
beforeAll(async () => {
  const pg = await sharedPg("system");
  url = pg.url(await createDatabase(pg, "pcopy"));
  sql = postgres(url, { max: 1, onnotice: () => {} });
  sink = new PostgresSink(postgresSinkConfig.parse({ url }));
  ctx = context("wh");
  await sink.open(ctx);
});
afterAll(async () => {
  await sink.close();
  await sql.end();
});

test("plan: a run of source inserts may COPY straight into the table; updates and snapshot reads go through staging", () => {
  const t = table("public.plan_only");
  const types = () => new Map([["id", "bigint"], ["n", "integer"], ["t", "text"]]);
  const [ins] = planBatch(range(0, 1000).map((i) => rec(t, i, i, "insert", 1n)), new Set(), "public", types);
  expect(ins.copy?.direct).toBe('copy "public"."plan_only" ("id", "n", "t") from stdin');
  expect(ins.copy?.data.toString()).toStartWith("0\t0\trow 0\\tx\\\\y\n1\t1\trow 1\\tx\\\\y\n");
  const mixed = range(0, 1000).map((i) => rec(t, i, i, i === 500 ? "update" : "insert", 1n));
  expect(planBatch(mixed, new Set(), "public", types)[0].copy?.direct).toBeUndefined();
  expect(planBatch(range(0, 1000).map((i) => rec(t, i, i, "read", 1n)), new Set(), "public", types)[0].copy?.direct).toBeUndefined();
});

test("source inserts of keys the table already has: the direct COPY is refused and the run is upserted, nothing to the DLQ", async () => {
  const t = table("public.refill");
  await sink.write({ pipeline: "p", lsn: 10n, records: range(0, 1200).map((i) => rec(t, i, i, "insert", 10n)) });
  expect(Number((await sql`select count(*) as c from refill`)[0].c)).toBe(1200);
  // 1000..2199 as inserts again (as after a table was filled by hand): 200 keys exist already.
  await sink.write({ pipeline: "p", lsn: 11n, records: range(1000, 2200).map((i) => rec(t, i, -i, "insert", 11n)) });
  const got = await sql`select id::int as id, n, t from refill order by id`;
  expect(got.length).toBe(2200);
  expect(got[999]).toEqual({ id: 999, n: 999, t: "row 999\tx\\y" });
  expect(got[1000]).toEqual({ id: 1000, n: -1000, t: "row 1000\tx\\y" });
  expect(got[2199]).toEqual({ id: 2199, n: -2199, t: "row 2199\tx\\y" });
  expect(ctx.dead).toEqual([]);
  expect(sink.position("p")).toBe(11n);
});

test("a value the server refuses inside a COPY run (direct or staging) ends in the DLQ instead of hanging the write", async () => {
  for (const [name, op] of [["bad_direct", "insert"], ["bad_staging", "update"]] as const) {
    ctx.dead.length = 0;
    const t = table(`public.${name}`);
    const records = range(0, 1500).map((i) => rec(t, i, i === 777 ? "not a number" : i, op, 20n));
    await sink.write({ pipeline: name, lsn: 20n, records });
    expect(ctx.dead.map((d) => [d.record.row.id, d.error.slice(0, 5)])).toEqual([[777n, "22P02"]]);
    const [{ c, s }] = await sql.unsafe(`select count(*)::int as c, sum(n)::int as s from ${name}`);
    expect([c, s]).toEqual([1499, (1499 * 1500) / 2 - 777]);
    expect(sink.position(name)).toBe(20n);
  }
});

test("a target COPY cannot write (a view with an INSTEAD OF trigger, no key): the run falls back to INSERT as before", async () => {
  await sql.unsafe(`create table view_base (id bigint, n integer, t text);
    create view via_view as select * from view_base;
    create function via_view_ins() returns trigger language plpgsql as $$ begin insert into view_base values (new.id, new.n, new.t); return new; end $$;
    create trigger via_view_ins instead of insert on via_view for each row execute function via_view_ins();`);
  ctx.dead.length = 0;
  const t: OutputTable = { ...table("public.via_view"), key: [] };
  await sink.write({ pipeline: "v", lsn: 30n, records: range(0, 1100).map((i) => rec(t, i, i, "insert", 30n)) });
  const [{ c, s }] = await sql`select count(*)::int as c, sum(n)::int as s from view_base`;
  expect([c, s]).toEqual([1100, (1099 * 1100) / 2]);
  expect(ctx.dead).toEqual([]);
  expect(sink.position("v")).toBe(30n);
});

test("the pipelined writer's connection writes only inside a batch's READ WRITE transaction", async () => {
  // A query postgres.js held back runs after a lost connection on a new one, outside the batch's
  // transaction: it must fail, not write an old row over newer ones.
  const conn = openSinkPg(postgresSinkConfig.parse({ url }), 1, writerClientOptions);
  try {
    await sql.unsafe("create table if not exists ghost (id int primary key, v int)");
    const outside = await conn.unsafe("insert into ghost values (1, 1)").then(() => "written", (e) => (e as Error).message);
    expect(outside).toBe("cannot execute INSERT in a read-only transaction");
    await conn.unsafe("begin read write");
    await conn.unsafe("insert into ghost values (2, 2)");
    await conn.unsafe("commit");
    expect((await sql`select id from ghost order by id`).map((r) => r.id)).toEqual([2]);
  } finally {
    await conn.end();
  }
});
