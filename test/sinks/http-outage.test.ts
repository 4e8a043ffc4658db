/**
 * The http sink when the receiver is away: down (connection refused) for longer than the retry
 * budget, or hanging (request taken, no answer) when the engine stops. Records wait for the
 * receiver instead of going to the DLQ, a stop does not wait for a receiver that does not answer,
 * and what a stop interrupted is delivered once after the restart (same Idempotency-Key).
 */
import { afterEach, describe, expect, test } from "bun:test";
import pino from "pino";
import { HttpSink } from "../../src/sinks/http/index.ts";
import { httpSinkConfig } from "../../src/sinks/http/config.ts";
import { SinkWriter } from "../../src/engine/sink-writer.ts";
import type { OutputRecord } from "../../src/sinks/sink.ts";
import { HttpReceiver, type ReceiverOptions } from "../helpers/http-receiver.ts";
import { waitUntil } from "../helpers/wait-for.ts";
import { batch, col, context, OID, rec, table } from "./helpers.ts";

const receivers: HttpReceiver[] = [];
afterEach(() => {
  for (const r of receivers.splice(0)) r.stop();
});
function receiver(opts: ReceiverOptions = {}): HttpReceiver {
  const r = new HttpReceiver(opts);
  receivers.push(r);
  return r;
}

const events = table("events", [col("id", OID.int8, { key: true })], ["id"]);
/** Source transactions at LSN 1000, 1010, …: `sizes[t]` records each, ids counting from 1. */
function txns(sizes: number[]): { lsn: bigint; records: OutputRecord[] }[] {
  let id = 0;
  return sizes.map((n, t) => {
    const lsn = BigInt(1000 + t * 10);
    return { lsn, records: Array.from({ length: n }, (_, i) => rec(events, "upsert", { id: BigInt(++id) }, lsn, i)) };
  });
}
/** Ids the receiver stored, one entry per stored copy (by Idempotency-Key). */
const storedIds = (rx: HttpReceiver) => [...rx.byKey.values()].flatMap((b) => (JSON.parse(b) as { id: number }[]).map((r) => r.id));
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
/** The engine's writer in front of the sink: it retries a failed write (backpressure), as in serve. */
const writer = (s: HttpSink) =>
  new SinkWriter("hook", s, "hook", { batchSize: 1000, batchDelayMs: 5, maxRows: 10_000, maxBytes: 1 << 26, retryInitialMs: 20, retryMaxMs: 100 }, pino({ level: "silent" }), () => {});

describe("http sink: receiver away", () => {
  test("a receiver down for longer than max_attempts × backoff, then up: every record delivered once, DLQ empty", async () => {
    const rx = receiver();
    rx.down();
    // 3 attempts, 10-20 ms apart: the retry budget is spent in well under 100 ms.
    const cfg = httpSinkConfig.parse({ url: rx.url, batch_size: 5, retry: { max_attempts: 3, initial_delay: "10ms", max_delay: "20ms" }, breaker: { failures: 2, half_open_after: "200ms" } });
    const s = new HttpSink(cfg);
    const ctx = context("hook", [{ pipeline: "hook", options: {} }]);
    await s.open(ctx);
    const w = writer(s);
    for (const t of txns([5, 5, 5, 5, 5, 5])) await w.add(t.records, t.lsn);
    const flushed = w.flush();
    await Bun.sleep(1500); // ~7 half-open probes, all refused
    // Before, the open circuit's refusals were counted as attempts: all 30 records were in the DLQ within ~50 ms.
    expect(ctx.dead).toEqual([]);
    expect((await s.health()).status).toBe("down");
    expect(w.health()?.status).toBe("down");
    expect(s.position("hook")).toBeNull();
    rx.up();
    await flushed;
    expect(ctx.dead).toEqual([]);
    expect(storedIds(rx).sort((a, b) => a - b)).toEqual(range(30));
    expect(rx.requests.map((r) => r.outcome)).toEqual(Array(6).fill("stored"));
    expect(s.position("hook")).toBe(1050n);
    expect((await s.health()).status).toBe("up");
    expect(w.health()).toBeNull();
    await s.close();
  }, 20_000);

  test("a stop while the receiver is down ends promptly, dead-letters nothing, and the restart delivers everything once", async () => {
    const rx = receiver();
    rx.down();
    const cfg = httpSinkConfig.parse({ url: rx.url, batch_size: 4, retry: { max_attempts: 3, initial_delay: "10ms", max_delay: "20ms" }, breaker: { failures: 2, half_open_after: "200ms" } });
    const ctx = context("hook", [{ pipeline: "hook", options: {} }]);
    const s1 = new HttpSink(cfg);
    await s1.open(ctx);
    const w1 = writer(s1);
    const all = txns([6, 6]);
    for (const t of all) await w1.add(t.records, t.lsn);
    const flushed = w1.flush().then(
      () => "flushed",
      () => "stopped",
    );
    await Bun.sleep(700); // the writer retries the batch the open circuit holds back
    const t0 = performance.now();
    w1.giveUp();
    await s1.close();
    expect(await flushed).toBe("stopped");
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(ctx.dead).toEqual([]);
    expect(s1.position("hook")).toBeNull();

    rx.up();
    const s2 = new HttpSink(cfg);
    await s2.open(context("hook", [{ pipeline: "hook", options: {} }], ctx.stateDir));
    const w2 = writer(s2);
    for (const t of all) await w2.add(t.records, t.lsn);
    await w2.flush();
    await s2.close();
    expect(storedIds(rx).sort((a, b) => a - b)).toEqual(range(12));
    expect(rx.requests.every((r) => r.outcome === "stored")).toBe(true);
    expect(s2.position("hook")).toBe(1010n);
  }, 20_000);

  test("a stop while the receiver hangs aborts the request at once; the restart resends it under the same key (delivered once)", async () => {
    // The first request is answered; the second is taken (and stored) but never answered.
    const rx = receiver({ hang: ({ n }) => n >= 1 });
    const cfg = httpSinkConfig.parse({ url: rx.url, batch_size: 4 }); // timeout 10s: the stop comes first
    const ctx = context("hook", [{ pipeline: "hook", options: {} }]);
    const s1 = new HttpSink(cfg);
    await s1.open(ctx);
    const [t1, t2] = txns([6, 4]);
    let ended = "";
    const written = s1.write(batch("hook", t1.records)).then(
      () => (ended = "written"),
      (e: Error) => (ended = e.message),
    );
    await waitUntil("the second request hangs", async () => rx.requests.length === 2, 5000);
    const t0 = performance.now();
    await s1.close();
    const closeMs = performance.now() - t0;
    expect(closeMs).toBeLessThan(5000);
    expect(ended).toMatch(/^\[sink:hook\] stopped before the receiver answered/); // settled before close() returned
    await written;
    expect(ctx.dead).toEqual([]);
    expect(s1.position("hook")).toBeNull();

    rx.set({ hang: () => false });
    const s2 = new HttpSink(cfg);
    await s2.open(context("hook", [{ pipeline: "hook", options: {} }], ctx.stateDir));
    // After a restart the replayed transaction can arrive in one batch with the next one: cut
    // into requests of 4 from its 5th record, the interrupted request (5-6) would become 5-8
    // under a new key, and the receiver, which stored 5-6 already, would store them twice.
    await s2.write(batch("hook", [...t1.records, ...t2.records]));
    await s2.close();
    expect([...rx.byKey.keys()]).toEqual(["hook:1000:0-1000:3", "hook:1000:4-1000:5", "hook:1010:0-1010:3"]);
    expect(rx.requests.filter((r) => r.key === "hook:1000:4-1000:5").map((r) => r.outcome)).toEqual(["hung", "duplicate"]);
    expect(storedIds(rx).sort((a, b) => a - b)).toEqual(range(10));
    expect(s2.position("hook")).toBe(1010n);
  }, 20_000);
});
