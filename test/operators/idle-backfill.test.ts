/**
 * A backfill of old event times that pauses longer than idle_timeout: the idle watermark moves to
 * the wall clock and closes the windows (as on live data), but the state is kept by the events'
 * own watermark, so the rest of that history comes in as late rows (late: update) instead of
 * going to the DLQ as "dropped after retention" (found by an exploratory run: 637 rows lost).
 */
import { expect, test } from "bun:test";
import { build, ins, relation, txn } from "./harness.ts";

const R = relation("public.orders", [["order_id", 20, "bigint", true], ["customer_id", 23, "integer"], ["created_at", 1184, "timestamp with time zone"]]);

for (const type of ["tumbling", "session"] as const) {
  test(`${type}: January's rows after a minute's pause in December are all counted, none dropped`, async () => {
    const window = type === "tumbling" ? { type, size: "1m", time: "created_at", key: ["customer_id"], lateness: "10s", retention: "1m" } : { type, gap: "5m", time: "created_at", key: ["customer_id"], lateness: "10s", retention: "1m" };
    const h = await build({ from: "public.orders", window, aggregate: { n: "COUNT(*)" }, to: { sink: "pg", key: ["customer_id", "window_start"] } });
    const now = Date.parse("2026-12-06T08:00:00Z");
    const at = (sec: number) => `2026-01-01 00:${String(20 + Math.floor(sec / 60)).padStart(2, "0")}:${String(sec % 60).padStart(2, "0")}+00`;
    const row = (id: number, sec: number) => ins(R, { order_id: BigInt(id), customer_id: 1, created_at: at(sec) });
    for (let i = 0; i < 100; i++) h.run(txn(now + i, [row(i, i)])); // 00:20:00 .. 00:21:39
    h.op.onWatermark?.(now + 1_000, h.sink.emit);
    h.op.onWatermark?.(now + 61_000, h.sink.emit); // a minute without events: the idle watermark closes them
    for (let i = 100; i < 200; i++) h.run(txn(now + 61_000 + i, [row(i, i)])); // 00:21:40 .. 00:23:19
    h.closeAll();
    expect(h.ctx.rejected.map((r) => r.reason)).toEqual([]);
    const rows = h.sink.sorted().map((r) => [String(r.window_start), r.n]);
    expect(rows).toEqual(type === "tumbling" ? [["2026-01-01 00:20:00+00", 60n], ["2026-01-01 00:21:00+00", 60n], ["2026-01-01 00:22:00+00", 60n], ["2026-01-01 00:23:00+00", 20n]] : [["2026-01-01 00:20:00+00", 200n]]);
  });
}
