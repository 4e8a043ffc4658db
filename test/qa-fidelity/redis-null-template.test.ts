/**
 * An update that sets a key-template (or zset member) column to NULL, under REPLICA IDENTITY FULL
 * (the old row is sent): the key was rendered from the old row's value (`row[c] ?? before[c]`), so
 * the new row was written under the old key as if the column had not changed. A NULL column in
 * the new row is NULL: the record goes to the DLQ. A column the row lacks (a delete's non-key
 * column) still comes from the old row.
 */
import { expect, test } from "bun:test";
import { recordOps, renderKey } from "../../src/sinks/redis/ops.ts";
import { redisTargetSchema } from "../../src/sinks/redis/config.ts";
import { col, OID, rec, table } from "../sinks/helpers.ts";

const t = table("public.items", [col("id", OID.int4, { key: true }), col("region", OID.text), col("score", OID.int4)], ["id"]);

test("a template column updated to NULL is NULL, not the old row's value", () => {
  const moved = rec(t, "upsert", { id: 1, region: null, score: 5 }, 10n, 0, { before: { id: 1, region: "eu", score: 5 } });
  expect(() => renderKey("item:{region}:{id}", moved)).toThrow("key template item:{region}:{id}: column 'region' is missing or NULL");
  const zset = redisTargetSchema.parse({ type: "zset", key_template: "top", member: "region", score: "score" });
  expect(() => recordOps(moved, zset, "")).toThrow("zset member column 'region' is NULL");
});

test("a delete's template column the row lacks still comes from the old row", () => {
  const del = rec(t, "delete", { id: 1 }, 10n, 0, { before: { id: 1, region: "eu", score: 5 } });
  expect(renderKey("item:{region}:{id}", del)).toBe("item:eu:1");
  const upd = rec(t, "upsert", { id: 1, region: "us", score: 5 }, 10n, 0, { before: { id: 1, region: "eu", score: 5 } });
  expect(renderKey("item:{region}:{id}", upd)).toBe("item:us:1");
});
