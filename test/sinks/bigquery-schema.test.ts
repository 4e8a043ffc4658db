import { afterAll, expect, test } from "bun:test";
import pino from "pino";
import { BigquerySink } from "../../src/sinks/bigquery/index.ts";
import { bigquerySinkConfig } from "../../src/sinks/bigquery/config.ts";
import { BigQueryServer } from "../helpers/bigquery-server.ts";
import { batch, col, context, OID, rec, table } from "./helpers.ts";

/**
 * The table's schema comes from the output columns' Postgres types, not from the first batch's
 * values. QA (engagement scenario): a first batch of join misses (length_seconds NULL) made the
 * column STRING, and 4,917 later rows with numbers went to the DLQ.
 */
const server = new BigQueryServer("demo-project");
afterAll(() => server.stop());
const cfg = bigquerySinkConfig.parse({ access_token: "test-token", project: "demo-project", api_endpoint: server.endpoint, dataset: "schema", metadata_columns: false });
const types = (name: string) => Object.fromEntries(server.table("schema", name)!.resource.schema.fields.map((f) => [f.name, f.type]));

async function run(name: string, batches: Parameters<typeof batch>[1][]) {
  const s = new BigquerySink(cfg);
  const ctx = context("bq", [{ pipeline: "p", options: { table: name } }]);
  const warnings: string[] = [];
  ctx.log = pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line).column) });
  await s.open(ctx);
  for (const b of batches) await s.write(batch("p", b));
  await s.close();
  return { rows: server.table("schema", name)!.rows, dead: ctx.dead.map((d) => d.error), warnings };
}

test("an int4 column NULL in the whole first batch is INT64; later numbers all land", async () => {
  const t = table("enriched", [col("id", OID.int8, { key: true }), col("title", OID.text), col("length_seconds", OID.int4)], ["id"]);
  const { rows, dead } = await run("enriched", [
    [1, 2, 3].map((i) => rec(t, "upsert", { id: BigInt(i), title: null, length_seconds: null }, 10n, i)),
    [4, 5].map((i) => rec(t, "upsert", { id: BigInt(i), title: "t", length_seconds: 60 * i }, 20n, i)),
  ]);
  expect(types("enriched")).toEqual({ id: "INT64", title: "STRING", length_seconds: "INT64" });
  expect(dead).toEqual([]);
  expect(rows.map((r) => r.length_seconds)).toEqual([null, null, null, "240", "300"]);
});

test("a column of unknown type: a NULL decides nothing; the first value does, and the column is added then", async () => {
  const t = table("unknown_types", [col("id", OID.int8, { key: true }), col("n", 0), col("f", 0), col("s", 0)], ["id"]);
  const { rows, dead } = await run("unknown_types", [
    [rec(t, "upsert", { id: 1n, n: null, f: null, s: null }, 10n)],
    [rec(t, "upsert", { id: 2n, n: null, f: 1.5, s: null }, 20n), rec(t, "upsert", { id: 3n, n: 7n, f: 2, s: "x" }, 20n, 1)],
  ]);
  expect(types("unknown_types")).toEqual({ id: "INT64", f: "FLOAT64", n: "INT64", s: "STRING" });
  expect(dead).toEqual([]);
  expect(rows).toEqual([{ id: "1" }, { id: "2", n: null, f: 1.5, s: null }, { id: "3", n: "7", f: 2, s: "x" }]);
});

test("a table whose column is STRING (made earlier from a text-typed output) takes the numbers as text", async () => {
  // The engine types a joined column text until it has seen the joined table; later outputs say int4.
  const early = table("placeholder", [col("id", OID.int8, { key: true }), col("length_seconds", OID.text)], ["id"]);
  const later = { ...early, columns: [early.columns[0], col("length_seconds", OID.int4), col("ok", OID.bool)] };
  const { rows, dead, warnings } = await run("placeholder", [
    [rec(early, "upsert", { id: 1n, length_seconds: null }, 10n)],
    [rec(later, "upsert", { id: 2n, length_seconds: 1234, ok: true }, 20n)],
    [rec(later, "upsert", { id: 3n, length_seconds: 99, ok: false }, 30n)],
  ]);
  expect(warnings).toEqual(["length_seconds"]); // said once, not per batch
  expect(types("placeholder")).toEqual({ id: "INT64", length_seconds: "STRING", ok: "BOOL" });
  expect(dead).toEqual([]);
  expect(rows).toEqual([{ id: "1", length_seconds: null }, { id: "2", length_seconds: "1234", ok: true }, { id: "3", length_seconds: "99", ok: false }]);
});

test("the user's table keeps its types; values it refuses go to the DLQ with BigQuery's reason", async () => {
  const ds = server.datasets.get("schema") ?? new Map();
  server.datasets.set("schema", ds);
  const fields = [{ name: "id", type: "INT64" }, { name: "label", type: "INT64" }, { name: "n", type: "STRING" }];
  ds.set("users_own", { resource: { kind: "bigquery#table", schema: { fields } }, rows: [], insertIds: new Set() });
  const t = table("users_own", [col("id", OID.int8, { key: true }), col("label", OID.text), col("n", OID.int4)], ["id"]);
  const { rows, dead } = await run("users_own", [[rec(t, "upsert", { id: 1n, label: "42", n: 5 }, 10n), rec(t, "upsert", { id: 2n, label: "abc", n: 6 }, 10n, 1)]]);
  expect(types("users_own")).toEqual({ id: "INT64", label: "INT64", n: "STRING" });
  expect(rows).toEqual([{ id: "1", label: "42", n: "5" }]);
  expect(dead).toEqual(["invalid (label): Cannot convert value to INT64"]);
});

test("records of one batch with a newer shape (a column added mid-batch) add the column before the insert", async () => {
  const t1 = table("mid_batch", [col("id", OID.int8, { key: true })], ["id"]);
  const t2 = { ...t1, columns: [...t1.columns, col("score", OID.numeric)] };
  const { rows, dead } = await run("mid_batch", [[rec(t1, "upsert", { id: 1n }, 10n), rec(t2, "upsert", { id: 2n, score: "1.25" }, 10n, 1)]]);
  expect(types("mid_batch")).toEqual({ id: "INT64", score: "BIGNUMERIC" });
  expect(dead).toEqual([]);
  expect(rows).toEqual([{ id: "1" }, { id: "2", score: "1.25" }]);
});
