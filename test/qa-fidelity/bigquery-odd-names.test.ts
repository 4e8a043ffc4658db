/**
 * Postgres names BigQuery cannot take as they are (QA of the shipped binary against odd names):
 * - a table `"Sales Data"."Orders ""2024"".v1"` became the table id `Sales Data_Orders "2024".v1`,
 *   which BigQuery refuses (ids hold letters, numbers, `_`, `-` and spaces), and the path was not
 *   percent-encoded (a `#` or `?` in a name cut the URL): every insertAll failed and was retried for
 *   good, holding the pipeline and the slot. Other characters now become `_` in the id.
 * - a column BigQuery refuses (`"x.y"`, `"a""b"`): tables.insert answered 400 and the batch was retried
 *   for good. The table's records now go to the DLQ with BigQuery's reason, and the sink goes on.
 */
import { afterAll, expect, test } from "bun:test";
import { BigquerySink } from "../../src/sinks/bigquery/index.ts";
import { bigquerySinkConfig } from "../../src/sinks/bigquery/config.ts";
import { BigQueryServer } from "../helpers/bigquery-server.ts";
import { batch, col, context, OID, rec, table } from "../sinks/helpers.ts";

const server = new BigQueryServer("demo-project");
afterAll(() => server.stop());

async function sinkOn(dataset: string) {
  const s = new BigquerySink(bigquerySinkConfig.parse({ access_token: "test-token", project: "demo-project", api_endpoint: server.endpoint, dataset, max_backoff: "100ms" }));
  const ctx = context("bq", [{ pipeline: "p", options: {} }]);
  await s.open(ctx);
  return { s, ctx };
}

/** Resolves with the write, or fails once it has been retrying for 5 s. */
function within5s(p: Promise<void>): Promise<void> {
  return Promise.race([p, new Promise<void>((_, reject) => setTimeout(() => reject(new Error("write still retrying after 5 s")), 5000))]);
}

test("table names with dots, quotes, '#' and '?' go to a valid table id", async () => {
  const { s, ctx } = await sinkOn("names");
  const cols = () => [col("id", OID.int4, { key: true }), col("Ünïcode Col", OID.text)];
  const a = table('Sales Data.Orders "2024".v1', cols(), ["id"]);
  const b = table("public.a#b?c/d", cols(), ["id"]);
  await within5s(s.write(batch("p", [rec(a, "upsert", { id: 1, "Ünïcode Col": "x" }, 10n, 0), rec(b, "upsert", { id: 2, "Ünïcode Col": "y" }, 10n, 1)])));
  await s.close();
  expect(ctx.dead).toEqual([]);
  expect([...server.datasets.get("names")!.keys()].sort()).toEqual(["Sales Data_Orders _2024__v1", "a_b_c_d"]);
  expect(server.table("names", "Sales Data_Orders _2024__v1")!.rows.map((r) => [r.id, r["Ünïcode Col"]])).toEqual([["1", "x"]]);
  expect(server.table("names", "a_b_c_d")!.rows.map((r) => r.id)).toEqual(["2"]);
});

test("a table BigQuery will not create (a column name it refuses) sends its records to the DLQ; other tables go on", async () => {
  const { s, ctx } = await sinkOn("cols");
  const bad = table("public.bad", [col("id", OID.int4, { key: true }), col("x.y", OID.int8)], ["id"]);
  const good = table("public.good", [col("id", OID.int4, { key: true })], ["id"]);
  await within5s(s.write(batch("p", [rec(bad, "upsert", { id: 1, "x.y": 5n }, 10n, 0), rec(good, "upsert", { id: 1 }, 10n, 1)])));
  await within5s(s.write(batch("p", [rec(bad, "upsert", { id: 2, "x.y": 6n }, 20n, 0), rec(good, "upsert", { id: 2 }, 20n, 1)])));
  await s.close();
  expect(ctx.dead.map((d) => [d.record.table.name, d.record.row.id])).toEqual([["public.bad", 1], ["public.bad", 2]]);
  expect(ctx.dead[0].error).toContain('Invalid field name "x.y"');
  expect(server.table("cols", "good")!.rows.map((r) => r.id)).toEqual(["1", "2"]);
  expect(s.position("p")).toBe(20n);
});
