import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { createLogger } from "../../src/log.ts";
import { SinkWriter } from "../../src/engine/sink-writer.ts";
import { CheckpointStore } from "../../src/engine/checkpoint-store.ts";
import type { OutputBatch, OutputRecord, Sink } from "../../src/sinks/sink.ts";

const log = createLogger({ level: "silent" });

/** A sink that takes `delayMs` per batch and fails the first `failures` writes. */
function slowSink(delayMs: number, failures = 0) {
  const batches: OutputBatch[] = [];
  let fail = failures;
  const sink: Sink = {
    open: async () => {},
    position: () => 5n,
    write: async (b) => {
      await Bun.sleep(delayMs);
      if (fail-- > 0) throw new Error("sink down");
      batches.push(b);
    },
    health: async () => ({ status: "up" }),
    close: async () => {},
  };
  return { sink, batches };
}

const rec = (lsn: bigint, i: number): OutputRecord => ({
  op: "upsert",
  table: { name: "public.t", columns: [], key: [] },
  row: { id: i, pad: "x".repeat(100) },
  lsn,
  index: i,
  commitTime: 0n,
  source: { table: "public.t", op: "insert", xid: 1 },
});

describe("SinkWriter", () => {
  test("a write that waits (a lock on the target) is reported by health and a warning, and clears when it ends", async () => {
    const { sink } = slowSink(400);
    const lines: string[] = [];
    const seen = pino({ level: "warn" }, { write: (l: string) => void lines.push(l) });
    const w = new SinkWriter("s", sink, "p", { batchSize: 100, batchDelayMs: 1, maxRows: 1000, maxBytes: 1 << 30, stuckWriteMs: 150 }, seen, () => {});
    await w.add([rec(100n, 0)], 100n);
    expect(w.health()).toBeNull();
    await Bun.sleep(250);
    expect(w.health()).toMatchObject({ status: "down", details: { pipeline: "p" } });
    expect(w.health()!.reason).toMatch(/^a write has waited 0 s for the sink \(a lock on a target table/);
    expect(lines.join("")).toContain("a write has waited 0.15 s for sink s and goes on waiting");
    await w.flush();
    expect(w.health()).toBeNull();
  });

  test("a batch that failed for good is not held: a checkpoint cut waits, and nothing past the last durable position is confirmable", async () => {
    // The queue is empty after such a failure: holds() said yes, and a checkpoint stored past rows no sink had.
    const { sink } = slowSink(5, 1);
    const stop = new Error("the sink's server is shutting down");
    const w = new SinkWriter("s", sink, "p", { batchSize: 100, batchDelayMs: 1, maxRows: 1000, maxBytes: 1 << 30, giveUp: (e) => (e instanceof Error && e.message === "sink down" ? stop : null) }, log, () => {});
    await w.add([rec(100n, 0)], 100n);
    const mark = w.mark();
    expect(await w.flush().then(() => "flushed", (e) => (e as Error).message)).toBe("the sink's server is shutting down");
    expect(w.queued()).toBe(0);
    expect(w.holds(mark)).toBe(false);
    expect(w.confirmable()).toBe(5n); // the position the sink had at open, not 100
  });

  test("a slow sink holds the caller: queued rows never pass the bound; batches end on transaction boundaries", async () => {
    const { sink, batches } = slowSink(50);
    const w = new SinkWriter("s", sink, "p", { batchSize: 100, batchDelayMs: 10, maxRows: 300, maxBytes: 1 << 30 }, log, () => {});
    let maxQueued = 0;
    const t0 = performance.now();
    for (let t = 0; t < 40; t++) {
      const lsn = 100n + BigInt(t);
      await w.add(Array.from({ length: 30 }, (_, i) => rec(lsn, i)), lsn);
      maxQueued = Math.max(maxQueued, w.queued());
    }
    await w.flush();
    expect(maxQueued).toBeLessThanOrEqual(300 + 30);
    expect(performance.now() - t0).toBeGreaterThan(4 * 50); // it had to wait for the sink
    expect(batches.reduce((n, b) => n + b.records.length, 0)).toBe(1200);
    for (const b of batches) expect(b.records.at(-1)!.lsn).toBe(b.lsn); // whole transactions only
    expect(w.durable).toBe(139n);
  });

  test("replayed transactions at or below the sink's position are skipped; snapshot chunks are not", async () => {
    const { sink, batches } = slowSink(0);
    const w = new SinkWriter("s", sink, "p", { batchSize: 1, batchDelayMs: 0, maxRows: 10, maxBytes: 1 << 30 }, log, () => {});
    await w.add([rec(4n, 0)], 4n);
    await w.add([rec(5n, 0)], 5n);
    await w.add([rec(3n, 0)], 3n, true);
    await w.add([rec(6n, 0)], 6n);
    await w.flush();
    expect(batches.flatMap((b) => b.records.map((r) => r.lsn))).toEqual([3n, 6n]);
  });

  test("failed writes are retried with backoff and reported until they succeed", async () => {
    const { sink, batches } = slowSink(0, 3);
    const noted: string[] = [];
    const w = new SinkWriter("s", sink, "p", { batchSize: 1, batchDelayMs: 0, maxRows: 10, maxBytes: 1 << 30, retryInitialMs: 20, retryMaxMs: 50, onFailing: (m) => void noted.push(m) }, log, () => {});
    await w.add([rec(10n, 0)], 10n);
    await Bun.sleep(15);
    expect(w.health()?.status).toBe("down");
    expect(w.health()?.reason).toBe("sink down");
    await w.flush();
    expect(batches.length).toBe(1);
    expect(w.health()).toBeNull();
    // Once per failing streak, for /status's recent errors (it said "errors": [] through an outage).
    expect(noted).toEqual(["sink s (pipeline p): write failed, retrying: sink down"]);
  });
});

describe("CheckpointStore", () => {
  test("state and LSN saved together, exact bigints, pruned to keep, never backwards, restored", () => {
    const dir = mkdtempSync(join(tmpdir(), "cdc-cp-"));
    const s = new CheckpointStore(dir, 2);
    s.save(100n, { p: [{ sum: 18446744073709551615n, bytes: new Uint8Array([1, 2]) }] });
    s.save(200n, { p: [{ sum: 1n }] });
    s.save(150n, { p: [{ sum: 2n }] });
    expect(s.count()).toBe(2);
    s.close();
    const again = new CheckpointStore(dir, 2);
    const cp = again.latest()!;
    expect(cp.lsn).toBe(200n);
    expect(cp.state).toEqual({ p: [{ sum: 2n }] });
    again.close();
    const s2 = new CheckpointStore(mkdtempSync(join(tmpdir(), "cdc-cp-")));
    s2.save(1n, { p: [{ sum: 18446744073709551615n, bytes: new Uint8Array([1, 2]) }] });
    expect(s2.latest()!.state).toEqual({ p: [{ sum: 18446744073709551615n, bytes: new Uint8Array([1, 2]) }] });
    s2.close();
  });
  test("an idle position held back by positionEveryMs is still stored once the interval passes (verify waited for the next heartbeat)", async () => {
    const { sink, batches } = slowSink(1);
    const w = new SinkWriter("s", sink, "p", { batchSize: 100, batchDelayMs: 1, maxRows: 1000, maxBytes: 1 << 30, positionEveryMs: 150 }, log, () => {});
    await w.add([], 10n); // idle transactions: the first position goes out at once
    await Bun.sleep(20);
    expect(batches.map((b) => b.lsn)).toEqual([10n]);
    await w.add([], 20n); // within the interval: put off, not dropped
    await w.add([], 30n);
    expect(batches.map((b) => b.lsn)).toEqual([10n]);
    await Bun.sleep(300);
    expect(batches.map((b) => [b.lsn, b.records.length])).toEqual([[10n, 0], [30n, 0]]);
    await w.add([], 40n); // a flush (a checkpoint, the stop) writes a put-off position at once
    await w.flush();
    expect(batches.map((b) => b.lsn)).toEqual([10n, 30n, 40n]);
  });
});
