import { afterAll, expect, test } from "bun:test";
import { BigquerySink } from "../../src/sinks/bigquery/index.ts";
import { bigquerySinkConfig } from "../../src/sinks/bigquery/config.ts";
import { BigQueryServer } from "../helpers/bigquery-server.ts";
import { batch, col, context, OID, rec, table } from "./helpers.ts";

/**
 * insertAll answers 200 with per-row insertErrors; a row refused with reason backendError or
 * timeout was BigQuery's trouble (Google: retry it with the same insertId), not the row's. Such
 * rows went to the DLQ, so the table missed them until someone replayed the DLQ by hand.
 */
const server = new BigQueryServer("demo-project");
afterAll(() => server.stop());
const t = table("row_errors", [col("id", OID.int8, { key: true }), col("v", OID.text), col("n", OID.int4)], ["id"]);

test("rows refused with a transient row-level reason are retried; bad rows still go to the DLQ; nothing twice", async () => {
  const cfg = bigquerySinkConfig.parse({ access_token: "test-token", project: "demo-project", api_endpoint: server.endpoint, dataset: "analytics", max_backoff: "50ms", metadata_columns: false, rows_per_request: 2 });
  const s = new BigquerySink(cfg);
  const ctx = context("bq", [{ pipeline: "p", options: { table: "row_errors" } }]);
  await s.open(ctx);
  await s.write(batch("p", [rec(t, "upsert", { id: 1n, v: "a", n: 1 }, 10n)]));
  server.failRowsNext(3, "backendError");
  server.failRowsNext(1, "timeout");
  // 4 requests of 2 rows; row 4's n is not an INT64 (a real refusal)
  const recs = [2, 3, 4, 5, 6, 7, 8].map((id, i) => rec(t, "upsert", { id: BigInt(id), v: `r${id}`, n: id === 4 ? ("x" as unknown as number) : id }, 20n, i));
  await s.write(batch("p", recs));
  await s.close();
  const rows = server.table("analytics", "row_errors")!.rows;
  expect(rows.map((r) => r.id).sort()).toEqual(["1", "2", "3", "5", "6", "7", "8"]);
  expect(ctx.dead.map((d) => [d.record.row.id, d.error])).toEqual([[4n, "invalid (n): Cannot convert value to INT64"]]);
});

test("a 503 while the sink opens is retried (serve used to exit); a bad token still fails at once", async () => {
  const cfg = bigquerySinkConfig.parse({ access_token: "test-token", project: "demo-project", api_endpoint: server.endpoint, dataset: "analytics_open", max_backoff: "50ms" });
  server.failNext(3, 503);
  const s = new BigquerySink(cfg);
  await s.open(context("bq", [{ pipeline: "p", options: { table: "t" } }]));
  await s.close();
  expect(server.datasets.has("analytics_open")).toBe(true);
  const bad = new BigquerySink(bigquerySinkConfig.parse({ access_token: "wrong", project: "demo-project", api_endpoint: server.endpoint, dataset: "analytics_open", max_backoff: "50ms" }));
  await expect(bad.open(context("bq", [{ pipeline: "p", options: { table: "t" } }]))).rejects.toThrow("401");
});

test("a truncate goes to the DLQ with the reason (it was dropped without a trace); the rows around it are appended", async () => {
  const cfg = bigquerySinkConfig.parse({ access_token: "test-token", project: "demo-project", api_endpoint: server.endpoint, dataset: "analytics_trunc", max_backoff: "50ms", metadata_columns: false });
  const s = new BigquerySink(cfg);
  const ctx = context("bq", [{ pipeline: "p", options: { table: "row_errors" } }]);
  await s.open(ctx);
  const trunc = rec(t, "truncate", {}, 30n, 1, { truncate: { cascade: false, restartIdentity: false } });
  await s.write(batch("p", [rec(t, "upsert", { id: 1n, v: "a", n: 1 }, 30n, 0), trunc, rec(t, "upsert", { id: 2n, v: "b", n: 2 }, 30n, 2)]));
  await s.close();
  expect(server.table("analytics_trunc", "row_errors")!.rows.map((r) => r.id)).toEqual(["1", "2"]);
  expect(ctx.dead.map((d) => [d.record.op, d.pipeline, d.error])).toEqual([["truncate", "p", "truncate is not applied to BigQuery (insertAll only appends): the rows before it stay in the table"]]);
});

test("sales.orders and public.sales_orders do not mix their rows in BigQuery table sales_orders: the second goes to the DLQ naming both", async () => {
  const cfg = bigquerySinkConfig.parse({ access_token: "test-token", project: "demo-project", api_endpoint: server.endpoint, dataset: "analytics_clash", max_backoff: "50ms", metadata_columns: false });
  const s = new BigquerySink(cfg);
  const ctx = context("bq", [{ pipeline: "p", options: {} }]);
  await s.open(ctx);
  const cols = () => [col("id", OID.int8, { key: true }), col("v", OID.text)];
  const a = table("sales.orders", cols(), ["id"]);
  const b = table("public.sales_orders", cols(), ["id"]);
  await s.write(batch("p", [rec(a, "upsert", { id: 1n, v: "sales" }, 40n, 0), rec(b, "upsert", { id: 1n, v: "public" }, 40n, 1)]));
  await s.write(batch("p", [rec(b, "upsert", { id: 2n, v: "public" }, 50n, 0), rec(a, "upsert", { id: 2n, v: "sales" }, 50n, 1)]));
  await s.close();
  expect(server.table("analytics_clash", "sales_orders")!.rows.map((r) => [r.id, r.v])).toEqual([["1", "sales"], ["2", "sales"]]);
  expect(ctx.dead.map((d) => [d.record.row.id, d.error])).toEqual([
    [1n, "public.sales_orders and sales.orders both map to BigQuery table analytics_clash.sales_orders, which holds the rows of sales.orders: send public.sales_orders through a pipeline of its own with another to.table"],
    [2n, "public.sales_orders and sales.orders both map to BigQuery table analytics_clash.sales_orders, which holds the rows of sales.orders: send public.sales_orders through a pipeline of its own with another to.table"],
  ]);
});
