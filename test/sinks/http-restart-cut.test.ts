/**
 * The http sink after a kill -9 in the middle of a multi-request batch, when the batches after
 * the restart are cut differently (whole source transactions, but not the same ones): what the
 * receiver answered is never sent again, and the request in flight goes out again as it was.
 * QA saw the first batch after the restart (an earlier transaction only) erase the saved mark,
 * so the next batch was sent from its first record again under new keys.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HttpSink } from "../../src/sinks/http/index.ts";
import { httpSinkConfig } from "../../src/sinks/http/config.ts";
import type { OutputRecord } from "../../src/sinks/sink.ts";
import { HttpReceiver } from "../helpers/http-receiver.ts";
import { waitUntil } from "../helpers/wait-for.ts";
import { batch, col, context, OID, rec, table } from "./helpers.ts";

const receivers: HttpReceiver[] = [];
afterEach(() => {
  for (const r of receivers.splice(0)) r.stop();
});

const events = table("events", [col("id", OID.int8, { key: true })], ["id"]);
/** Source transactions at LSN 1000, 1010, …: `sizes[t]` records each, ids counting from 1. */
function txns(sizes: number[]): OutputRecord[][] {
  let id = 0;
  return sizes.map((n, t) => Array.from({ length: n }, (_, i) => rec(events, "upsert", { id: BigInt(++id) }, BigInt(1000 + t * 10), i)));
}
const storedIds = (rx: HttpReceiver) => [...rx.byKey.values()].flatMap((b) => (JSON.parse(b) as { id: number }[]).map((r) => r.id));
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const cfgFor = (rx: HttpReceiver) => httpSinkConfig.parse({ url: rx.url, batch_size: 4 });

describe("http sink: restart with batches cut differently", () => {
  test("kill -9 mid-batch; after the restart the first batch ends before the mark: nothing answered is resent, the hung request keeps its key", async () => {
    // Requests of 4 over A (6) + B (9): A:0-3, A:4-B:1, B:2-5 answered; B:6-8 taken, never answered.
    const rx = new HttpReceiver({ hang: ({ n }) => n === 3 });
    receivers.push(rx);
    const [a, b, c] = txns([6, 9, 4]);
    const ctx = context("hook", [{ pipeline: "hook", options: {} }]);
    const s1 = new HttpSink(cfgFor(rx));
    await s1.open(ctx);
    const written = s1.write(batch("hook", [...a, ...b])).catch(() => {});
    await waitUntil("the fourth request hangs", async () => rx.requests.length === 4, 5000);
    // kill -9: state.dir as it is now, with the request in flight (close() could write more).
    const killed = mkdtempSync(join(tmpdir(), "cdc-sink-"));
    cpSync(ctx.stateDir, killed, { recursive: true });
    await s1.close();
    await written;
    const answered = rx.requests.length;
    expect(rx.requests.map((r) => [r.key, r.outcome])).toEqual([
      ["hook:1000:0-1000:3", "stored"],
      ["hook:1000:4-1010:1", "stored"],
      ["hook:1010:2-1010:5", "stored"],
      ["hook:1010:6-1010:8", "hung"],
    ]);

    rx.set({ hang: () => false });
    const s2 = new HttpSink(cfgFor(rx));
    await s2.open(context("hook", [{ pipeline: "hook", options: {} }], killed));
    // The replay is cut as A alone (all of it answered), then B with C.
    await s2.write(batch("hook", a));
    await s2.write(batch("hook", [...b, ...c]));
    await s2.close();
    expect(rx.requests.slice(answered).map((r) => [r.key, r.outcome])).toEqual([
      ["hook:1010:6-1010:8", "duplicate"], // same request, same key
      ["hook:1020:0-1020:3", "stored"],
    ]);
    expect(storedIds(rx).sort((x, y) => x - y)).toEqual(range(19));
    expect(s2.position("hook")).toBe(1020n);
  }, 20_000);

  test("a progress file of the previous version (mark only) inside B; restart batches A, then B: B is sent from after the mark", async () => {
    const rx = new HttpReceiver();
    receivers.push(rx);
    const [a, b] = txns([6, 12]);
    const ctx = context("hook", [{ pipeline: "hook", options: {} }]);
    // Delivered through B:5 (QA's case: mark 90364256:1503, first batch after the restart 88694840 only).
    writeFileSync(join(ctx.stateDir, "sink-hook.progress.json"), JSON.stringify({ hook: { lsn: "1010", index: 5 } }));
    const s = new HttpSink(cfgFor(rx));
    await s.open(ctx);
    await s.write(batch("hook", a));
    expect(rx.requests).toEqual([]);
    await s.write(batch("hook", b));
    await s.close();
    expect(rx.requests.map((r) => r.key)).toEqual(["hook:1010:6-1010:9", "hook:1010:10-1010:11"]);
    expect(storedIds(rx).sort((x, y) => x - y)).toEqual(range(18).slice(12));
  });
  test("kill -9 while a refused request is re-sent record by record: the resend goes on from the record in flight (same key), nothing dead-lettered twice", async () => {
    // 0-3 gets a 422 and is sent record by record: 0 delivered, 1 refused (DLQ), 2 in flight at the kill.
    const rx = new HttpReceiver({ decide: ({ key }) => (key === "hook:1000:0-1000:3" || key === "hook:1000:1" ? { status: 422 } : undefined), hang: ({ key }) => key === "hook:1000:2" });
    receivers.push(rx);
    const [a] = txns([8]);
    const ctx = context("hook", [{ pipeline: "hook", options: {} }]);
    const s1 = new HttpSink(cfgFor(rx));
    await s1.open(ctx);
    const written = s1.write(batch("hook", a)).catch(() => {});
    await waitUntil("the third record hangs", async () => rx.requests.some((r) => r.outcome === "hung"), 5000);
    const killed = mkdtempSync(join(tmpdir(), "cdc-sink-"));
    cpSync(ctx.stateDir, killed, { recursive: true });
    await s1.close();
    await written;
    expect(ctx.dead.map((d) => d.record.index)).toEqual([1]);
    const before = rx.requests.length;

    rx.set({ hang: () => false });
    const ctx2 = context("hook", [{ pipeline: "hook", options: {} }], killed);
    const s2 = new HttpSink(cfgFor(rx));
    await s2.open(ctx2);
    await s2.write(batch("hook", a));
    await s2.close();
    // Before, the refused request went out again and record 1 was dead-lettered a second time.
    expect(rx.requests.slice(before).map((r) => [r.key, r.outcome])).toEqual([
      ["hook:1000:2", "duplicate"],
      ["hook:1000:3-1000:6", "stored"],
      ["hook:1000:7", "stored"],
    ]);
    expect(ctx2.dead).toEqual([]);
    expect(storedIds(rx).sort((x, y) => x - y)).toEqual([1, 3, 4, 5, 6, 7, 8]);
  }, 20_000);
});
