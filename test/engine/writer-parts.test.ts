import { describe, expect, test } from "bun:test";
import { createLogger } from "../../src/log.ts";
import { SinkWriter } from "../../src/engine/sink-writer.ts";
import { PartsLostError, type OutputBatch, type OutputRecord, type Sink } from "../../src/sinks/sink.ts";

const log = createLogger({ level: "silent" });

const rec = (lsn: bigint, i: number): OutputRecord => ({
  op: "upsert",
  table: { name: "public.t", columns: [], key: [] },
  row: { id: i },
  lsn,
  index: i,
  commitTime: 0n,
  source: { table: "public.t", op: "insert", xid: 1 },
});
const recs = (lsn: bigint, from: number, n: number) => Array.from({ length: n }, (_, i) => rec(lsn, from + i));

function recordingSink(fail?: (b: OutputBatch) => Error | null) {
  const batches: OutputBatch[] = [];
  const sink: Sink = {
    open: async () => {},
    position: () => null,
    write: async (b) => {
      await Bun.sleep(1);
      const e = fail?.(b);
      if (e) throw e;
      batches.push({ ...b, records: [...b.records] });
    },
    health: async () => ({ status: "up" }),
    close: async () => {},
  };
  return { sink, batches };
}

describe("SinkWriter with a transaction in parts", () => {
  test("parts are streamed as they come (never gathered), queued transactions go first, the position moves only with the last part", async () => {
    const { sink, batches } = recordingSink();
    const durable: (bigint | null)[] = [];
    const w = new SinkWriter("s", sink, "p", { batchSize: 1000, batchDelayMs: 50, maxRows: 10_000, maxBytes: 1 << 30 }, log, () => durable.push(w.durable));
    await w.add(recs(100n, 0, 3), 100n); // an ordinary transaction, still queued (batch delay)
    await w.add(recs(200n, 0, 5), 200n, false, false);
    // The queued transaction went out on its own, before the first part.
    expect(batches.map((b) => [b.lsn, b.records.length, b.part])).toEqual([[100n, 3, undefined]]);
    await w.add([], 200n, false, false); // an empty part: nothing to send
    await w.add(recs(200n, 5, 5), 200n, false, false);
    expect(w.confirmable()).toBe(100n); // mid-transaction: never the big transaction's LSN
    await w.add(recs(200n, 10, 2), 200n, false, true);
    await w.add(recs(300n, 0, 1), 300n);
    await w.flush();
    expect(batches.map((b) => [b.lsn, b.records.length, b.part])).toEqual([
      [100n, 3, undefined],
      [200n, 5, { index: 0, last: false }],
      [200n, 5, { index: 1, last: false }],
      [200n, 2, { index: 2, last: true }],
      [300n, 1, undefined],
    ]);
    expect(batches.slice(1, 4).flatMap((b) => b.records.map((r) => r.index))).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(durable).toEqual([100n, 200n, 300n]);
    expect(w.durable).toBe(300n);
  });

  test("a transaction whose records are all in its last part is written as an ordinary one", async () => {
    const { sink, batches } = recordingSink();
    const w = new SinkWriter("s", sink, "p", { batchSize: 1, batchDelayMs: 0, maxRows: 10, maxBytes: 1 << 30 }, log, () => {});
    await w.add([], 500n, false, false);
    await w.add([], 500n, false, false);
    await w.add(recs(500n, 0, 2), 500n, false, true);
    await w.flush();
    expect(batches.map((b) => [b.lsn, b.records.length, b.part])).toEqual([[500n, 2, undefined]]);
    expect(w.durable).toBe(500n);
  });

  test("a failed first part is retried; a lost open transaction stops the writer with the sink's error", async () => {
    let firstFailures = 2;
    const { sink, batches } = recordingSink((b) => {
      if (b.part?.index === 0 && firstFailures-- > 0) return new Error("connection refused");
      if (b.part?.index === 1) return new PartsLostError("s", "p", b.lsn);
      return null;
    });
    const w = new SinkWriter("s", sink, "p", { batchSize: 1, batchDelayMs: 0, maxRows: 10, maxBytes: 1 << 30, retryInitialMs: 5, retryMaxMs: 10 }, log, () => {});
    await w.add(recs(700n, 0, 2), 700n, false, false);
    await w.add(recs(700n, 2, 2), 700n, false, false);
    await expect(w.add(recs(700n, 4, 2), 700n, false, true)).rejects.toThrow(/rolled back/);
    expect(batches.map((b) => b.part)).toEqual([{ index: 0, last: false }]);
    expect(w.durable).toBeNull();
    await expect(w.flush()).rejects.toBeInstanceOf(PartsLostError);
  });
});
