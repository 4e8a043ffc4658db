/**
 * A source table named `cdc_engine_offsets` (a database that is itself another engine's sink,
 * mirrored with `public.*`) mapped to the sink's own positions table. The postgres sink upserted
 * its rows there: one with the same (pipeline, sink) replaced this sink's position, and a restart
 * resumed from the other engine's LSN. The mysql sink refused them only by luck of its columns.
 * Such records now go to the DLQ and the position stays the sink's own.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { PostgresSink } from "../../src/sinks/postgres/sink.ts";
import { postgresSinkConfig } from "../../src/sinks/postgres/config.ts";
import { MysqlSink } from "../../src/sinks/mysql/index.ts";
import { mysqlSinkConfig } from "../../src/sinks/mysql/config.ts";
import { mysqlTestDb } from "./mysql-db.ts";
import { batch, col, context, OID, rec, table } from "../sinks/helpers.ts";

const my = mysqlTestDb("cdc_qa_own");
let url = "";
beforeAll(async () => {
  const pg = await sharedPg("system");
  url = pg.url(await createDatabase(pg, "qa_own_offsets"));
});

// The other engine's positions, with updated_at as its table has it.
const offsets = table("public.cdc_engine_offsets", [col("pipeline", OID.text, { key: true }), col("sink", OID.text, { key: true }), col("lsn", OID.numeric), col("updated_at", OID.timestamptz)], ["pipeline", "sink"]);
const t = table("public.t", [col("id", OID.int4, { key: true })], ["id"]);
const records = (sink: string) => [
  rec(offsets, "upsert", { pipeline: "p", sink, lsn: "99999999999", updated_at: "2024-01-01 00:00:00+00" }, 10n, 0),
  rec(offsets, "upsert", { pipeline: "other", sink: "x", lsn: "5", updated_at: "2024-01-01 00:00:00+00" }, 10n, 1),
  rec(t, "upsert", { id: 1 }, 10n, 2),
];

test("postgres: the sink's positions stay its own", async () => {
  const sink = new PostgresSink(postgresSinkConfig.parse({ url }));
  const ctx = context("wh");
  await sink.open(ctx);
  await sink.write(batch("p", records("wh")));
  await sink.close();
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    expect([...(await sql`select pipeline, sink, lsn::text from cdc_engine_offsets order by 1`)]).toEqual([{ pipeline: "p", sink: "wh", lsn: "10" }]);
    expect((await sql`select id from t`).map((r) => r.id)).toEqual([1]);
  } finally {
    await sql.end();
  }
  expect(ctx.dead.map((d) => d.record.row.pipeline)).toEqual(["p", "other"]);
  expect(ctx.dead[0].error).toBe("public.cdc_engine_offsets maps to public.cdc_engine_offsets, the sink's own positions table: send it through a pipeline of its own with another to.table");
});

test("mysql: the sink's positions stay its own", async () => {
  const sink = new MysqlSink(mysqlSinkConfig.parse({ url: my.url, database: my.db }));
  const ctx = context("my", [{ pipeline: "p", options: {} }]);
  await sink.open(ctx);
  await sink.write(batch("p", records("my")));
  await sink.close();
  const [rows] = await my.admin.query(`SELECT pipeline, sink, lsn FROM \`${my.db}\`.cdc_engine_offsets ORDER BY 1`);
  expect((rows as { pipeline: string; lsn: unknown }[]).map((r) => [r.pipeline, String(r.lsn)])).toEqual([["p", "10"]]);
  expect(ctx.dead.map((d) => [d.record.row.pipeline, d.error])).toEqual([
    ["p", "public.cdc_engine_offsets and the engine's positions both map to target table cdc_engine_offsets, which holds the rows of the engine's positions: mirror public.cdc_engine_offsets with a pipeline of its own and another to.table"],
    ["other", "public.cdc_engine_offsets and the engine's positions both map to target table cdc_engine_offsets, which holds the rows of the engine's positions: mirror public.cdc_engine_offsets with a pipeline of its own and another to.table"],
  ]);
});
