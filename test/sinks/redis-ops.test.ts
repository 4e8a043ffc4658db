import { describe, expect, test } from "bun:test";
import { RecordError, recordOps, renderKey } from "../../src/sinks/redis/ops.ts";
import { redisTargetSchema } from "../../src/sinks/redis/config.ts";
import { col, OID, rec, table } from "./helpers.ts";

const t = table("public.t", [col("a", OID.int8, { key: true }), col("b", OID.text), col("c", OID.text)], ["a"]);
const target = (o: Record<string, unknown>) => redisTargetSchema.parse(o);

describe("redis ops (commands built per record)", () => {
  test("key templates: several columns, exact bigint, bytes as hex, literal braces, the before row for deletes", () => {
    const r = rec(t, "upsert", { a: 90071992547409931n, b: "x:y", c: new Uint8Array([0, 255]) }, 1n);
    expect(renderKey("k:{a}:{b}/{c}-end", r)).toBe("k:90071992547409931:x:y/00ff-end");
    expect(renderKey("fixed", r)).toBe("fixed");
    expect(renderKey("{}{a}{{b}}", r)).toBe("{}90071992547409931{x:y}");
    const del = rec(t, "delete", { a: 5n }, 2n, 0, { before: { a: 5n, b: "old" } });
    expect(renderKey("{a}:{b}", del)).toBe("5:old");
    expect(() => renderKey("k:{c}", rec(t, "upsert", { a: 1n, c: null }, 3n))).toThrow(RecordError);
    expect(() => renderKey("k:{nope}", r)).toThrow(/column 'nope' is missing or NULL/);
  });

  test("hash: HSET of the set fields, HDEL of NULLs, unchanged TOAST columns left out, TTL after", () => {
    const r = rec(t, "upsert", { a: 7n, b: null, c: "v" }, 1n);
    expect(recordOps(r, target({ type: "hash", key_template: "h:{a}" }), "p:").map((o) => [o.cmd, ...o.args])).toEqual([
      ["HSET", "p:h:7", "a", "7", "c", "v"],
      ["HDEL", "p:h:7", "b"],
    ]);
    const toast = rec(t, "upsert", { a: 7n, b: "new", c: undefined }, 2n, 0, { unchangedToast: ["c"] });
    expect(recordOps(toast, target({ type: "hash", key_template: "h:{a}", ttl: "1s" }), "").map((o) => [o.cmd, ...o.args])).toEqual([
      ["HSET", "h:7", "a", "7", "b", "new"],
      ["PEXPIRE", "h:7", "1000"],
    ]);
    expect(recordOps(r, target({ type: "hash", key_template: "h:{a}", fields: ["c"] }), "").map((o) => [o.cmd, ...o.args])).toEqual([["HSET", "h:7", "c", "v"]]);
    expect(recordOps(rec(t, "delete", { a: 7n }, 3n), target({ type: "hash", key_template: "h:{a}" }), "").map((o) => [o.cmd, ...o.args])).toEqual([["DEL", "h:7"]]);
  });
});
