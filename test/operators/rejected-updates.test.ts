import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, del, ins, relation, txn, upd } from "./harness.ts";

/**
 * An update whose new version is refused (validate, a failing expression, a throwing transform)
 * goes to the DLQ, and the version it replaces leaves the target: the warehouse's fact_orders kept
 * an order updated to a negative price while daily_order_summary (same rules as `where`) dropped
 * it. A transform must be synchronous: an async one wrote a Promise as the row (all NULLs).
 */
const orders = relation("public.orders", [["order_id", 23, "integer", true], ["customer_id", 23], ["price", 1700, "numeric(10,2)"], ["status", 25]]);
const o = (order_id: number, price: string, status = "new", customer_id = 1) => ({ order_id, customer_id, price, status });

test("validate: an order updated to an invalid value is removed from fact_orders, and comes back when fixed", async () => {
  const h = await build({ from: "public.orders", validate: [{ rule: "price >= 0", message: "negative price" }], select: ["order_id", "price", "UPPER(status) AS status"], to: { sink: "out", table: "fact_orders", key: ["order_id"] } });
  h.run(txn("2024-01-01T00:00:00Z", [ins(orders, o(1, "5.00")), ins(orders, o(2, "7.00"))]));
  h.run(txn("2024-01-01T00:00:01Z", [upd(orders, o(1, "-1.00"))]));
  expect(h.sink.sorted()).toEqual([{ order_id: 2, price: "7.00", status: "NEW" }]);
  expect(h.ctx.rejected.map((r) => r.reason)).toEqual(["negative price"]);
  h.run(txn("2024-01-01T00:00:02Z", [upd(orders, o(1, "3.00", "paid"))]));
  expect(h.sink.sorted()).toEqual([{ order_id: 1, price: "3.00", status: "PAID" }, { order_id: 2, price: "7.00", status: "NEW" }]);
  // a refused insert has nothing to take back; a delete still deletes
  h.run(txn("2024-01-01T00:00:03Z", [ins(orders, o(3, "-2.00")), del(orders, { order_id: 2 })]));
  expect(h.sink.sorted()).toEqual([{ order_id: 1, price: "3.00", status: "PAID" }]);
});

test("a transform that throws on an update removes the old row; windows take its contribution back", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cdc-transform-"));
  writeFileSync(join(dir, "t.ts"), `export function transform(row: Record<string, unknown>) { if (row.status === "boom") throw new Error("boom"); return row; }\n`);
  const plain = await build({ from: "public.orders", transform: "./t.ts", to: { sink: "out", table: "x", key: ["order_id"] } }, { configDir: dir });
  const grouped = await build({ from: "public.orders", transform: "./t.ts", group_by: ["customer_id"], aggregate: { n: "COUNT(*)", s: "SUM(price)" }, to: { sink: "out", table: "g", key: ["customer_id"] } }, { configDir: dir });
  for (const h of [plain, grouped]) {
    h.run(txn("2024-01-01T00:00:00Z", [ins(orders, o(1, "5.00")), ins(orders, o(2, "7.00"))]));
    h.run(txn("2024-01-01T00:00:01Z", [upd(orders, o(1, "5.00", "boom"))]));
    expect(h.ctx.rejected.map((r) => r.reason)).toEqual(["transform failed: boom"]);
  }
  expect(plain.sink.sorted()).toEqual([o(2, "7.00")]);
  expect(grouped.sink.sorted()).toEqual([{ customer_id: 1, n: 1n, s: "7.00" }]);
});

test("a transform must be synchronous and return a row object", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cdc-transform-"));
  writeFileSync(join(dir, "async.ts"), `export async function transform(row: Record<string, unknown>) { return row; }\n`);
  writeFileSync(join(dir, "odd.ts"), `export function transform(row: Record<string, unknown>) { return row.status === "p" ? Promise.resolve(row) : row.status === "s" ? "text" : row; }\n`);
  await expect(build({ from: "public.orders", transform: "./async.ts", to: "out" }, { configDir: dir })).rejects.toThrow("must be synchronous (not async)");
  const h = await build({ from: "public.orders", transform: "./odd.ts", to: { sink: "out", table: "x", key: ["order_id"] } }, { configDir: dir });
  h.run(txn("2024-01-01T00:00:00Z", [ins(orders, o(1, "1.00", "p")), ins(orders, o(2, "1.00", "s")), ins(orders, o(3, "1.00"))]));
  expect(h.ctx.rejected.map((r) => r.reason)).toEqual(["transform failed: transform returned a Promise: it must be synchronous (not async)", "transform failed: transform must return a row object or null, not string"]);
  expect(h.sink.sorted()).toEqual([o(3, "1.00")]);
});
