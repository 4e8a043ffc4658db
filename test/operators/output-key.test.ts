/**
 * Which output keys may hold NULL: an aggregate's group (group_by, window.key) is one group for
 * its NULLs, as SQL's GROUP BY, so the sinks make it a nullable unique key; a select pipeline's
 * `to: {key}` is a row's identity and stays a primary key (QA found scenario 1's ods_* tables in
 * MariaDB made without a PRIMARY KEY, with nullable key columns).
 */
import { expect, test } from "bun:test";
import { compilePipeline } from "../../src/engine/operators/index.ts";
import { operatorRunner } from "../../src/engine/operator-runner.ts";
import { pipelineSchema } from "../../src/config/pipeline-schema.ts";
import { ins, relation, txn } from "./harness.ts";

const ORDERS = relation("public.orders", [["order_id", 25, "text", true], ["status", 25, "text"], ["price", 1700, "numeric"]]);

const tableOf = async (cfg: Record<string, unknown>) => {
  const p = pipelineSchema.parse({ name: "p", from: "public.orders", ...cfg });
  const compiled = await compilePipeline(p, { pipeline: p.name, reject: () => {}, count: () => {}, maps: {}, configDir: process.cwd() });
  const records = await operatorRunner(p, compiled, undefined).process(txn(1, [ins(ORDERS, { order_id: "o1", status: null, price: "1.50" })]));
  return records[0]!.table;
};

test("a select's to.key is not nullable; a GROUP BY's key is, with or without to.key", async () => {
  const select = await tableOf({ select: ["order_id", "UPPER(status) AS status"], to: { sink: "x", key: ["order_id"] } });
  expect([select.key, select.nullableKey]).toEqual([["order_id"], undefined]);
  const mirrorLike = await tableOf({ select: ["order_id", "status"], to: "x" });
  expect([mirrorLike.key, mirrorLike.nullableKey]).toEqual([["order_id"], undefined]);
  const grouped = await tableOf({ group_by: ["status"], aggregate: { n: "COUNT(*)" }, to: "x" });
  expect([grouped.key, grouped.nullableKey]).toEqual([["status"], true]);
  const groupedKeyed = await tableOf({ group_by: ["status"], aggregate: { n: "COUNT(*)" }, to: { sink: "x", key: ["status"] } });
  expect([groupedKeyed.key, groupedKeyed.nullableKey]).toEqual([["status"], true]);
});
