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
