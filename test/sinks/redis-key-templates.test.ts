import { expect, test } from "bun:test";
import { RecordError, recordOps, renderKey } from "../../src/sinks/redis/ops.ts";
import { redisTargetSchema } from "../../src/sinks/redis/config.ts";
import { col, OID, rec, table } from "./helpers.ts";

/**
 * Key templates with odd values: unicode and colons go into the key as they are; a delete under
 * REPLICA IDENTITY DEFAULT carries only the key columns, so a template (or zset member) built on
 * another column cannot find its key: the DLQ reason says why and what to do.
 */
const t = table("public.items", [col("id", OID.int4, { key: true }), col("name", OID.text), col("price", OID.numeric)], ["id"]);

test("unicode, colons and empty text in key templates; deletes without the template's column say why", () => {
  expect(renderKey("item:{name}:{id}", rec(t, "upsert", { id: 11, name: "ünï😀:x", price: "2" }, 1n))).toBe("item:ünï😀:x:11");
  expect(renderKey("item:{name}:{id}", rec(t, "upsert", { id: 13, name: "", price: "2" }, 1n))).toBe("item::13");
  const del = rec(t, "delete", { id: 13 }, 2n);
  expect(() => renderKey("item:{name}:{id}", del)).toThrow(/column 'name' is missing or NULL \(a delete carries only the source's key columns unless the table has REPLICA IDENTITY FULL/);
  expect(() => recordOps(del, redisTargetSchema.parse({ type: "zset", key_template: "board", member: "name", score: "price" }), "")).toThrow(RecordError);
  expect(() => recordOps(del, redisTargetSchema.parse({ type: "zset", key_template: "board", member: "name", score: "price" }), "")).toThrow(/REPLICA IDENTITY FULL/);
  // with the old row (REPLICA IDENTITY FULL) the delete finds its key
  expect(recordOps(rec(t, "delete", { id: 13 }, 3n, 0, { before: { id: 13, name: "ünï" } }), redisTargetSchema.parse({ type: "hash", key_template: "item:{name}:{id}", ttl: "1h" }), "p:").map((o) => [o.cmd, ...o.args])).toEqual([["DEL", "p:item:ünï:13"]]);
});

test("a stream entry of a table with a column named op carries the operation as _op (two op fields lost one in every map reader)", () => {
  const stream = redisTargetSchema.parse({ type: "stream", key_template: "events" });
  const plain = recordOps(rec(t, "upsert", { id: 1, name: "a", price: "2" }, 5n), stream, "");
  expect(plain.map((o) => [o.cmd, ...o.args])).toEqual([["XADD", "events", "5-1", "op", "upsert", "id", "1", "name", "a", "price", "2"]]);
  const withOp = table("public.moves", [col("id", OID.int4, { key: true }), col("op", OID.text), col("_op", OID.text)], ["id"]);
  const ops = recordOps(rec(withOp, "upsert", { id: 1, op: "buy", _op: "x" }, 6n), stream, "");
  expect(ops.map((o) => [o.cmd, ...o.args])).toEqual([["XADD", "events", "6-1", "__op", "upsert", "id", "1", "op", "buy", "_op", "x"]]);
});
