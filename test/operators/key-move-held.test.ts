/**
 * An update that moves a row onto a key the window state already holds. After a kill -9 mid-snapshot
 * the resumed read counts a row under its new key, and the slot then replays the update that moved
 * it there: GROUP BY, tumbling and session windows counted the row twice (QA, after a live kill -9
 * run: 151 too many, the key-changing updates of that gap). The move now replaces what is held
 * (session windows keep one event per row identity and were right already).
 */
import { describe, expect, test } from "bun:test";
import { build, ins, relation, txn, upd } from "./harness.ts";

const rel = relation("public.orders", [
  ["id", 20, "int8", true],
  ["customer_id", 23, "int4"],
  ["price", 1700, "numeric"],
  ["created_at", 1184, "timestamptz"],
]);
const at = "2024-05-01 10:00:05+00";

describe.each([
  ["group_by", { group_by: ["customer_id"], aggregate: { n: "COUNT(*)", total: "SUM(price)" } }],
  ["tumbling", { window: { type: "tumbling", size: "1m", time: "created_at", key: ["customer_id"] }, aggregate: { n: "COUNT(*)", total: "SUM(price)" } }],
  ["session", { window: { type: "session", gap: "2m", time: "created_at", key: ["customer_id"] }, aggregate: { n: "COUNT(*)", total: "SUM(price)" } }],
] as const)("%s", (_kind, cfg) => {
  test("a key change onto a held key replaces it: the row counts once", async () => {
    const h = await build({ from: "public.orders", ...cfg });
    // Held: row 1 (read before the kill) and row 1001 (the fresh read: row 1 after its move).
    await h.run(txn("2024-05-01T10:00:10Z", [ins(rel, { id: 1n, customer_id: 7, price: "10.00", created_at: at }), ins(rel, { id: 1001n, customer_id: 7, price: "10.00", created_at: at })]));
    // The replayed move 1 → 1001.
    await h.run(txn("2024-05-01T10:00:20Z", [upd(rel, { id: 1001n, customer_id: 7, price: "10.00", created_at: at }, { id: 1n })]));
    h.closeAll();
    const rows = h.sink.sorted().map((r) => [String(r.n), String(r.total)]);
    expect(rows).toEqual([["1", "10.00"]]);
  });
});
