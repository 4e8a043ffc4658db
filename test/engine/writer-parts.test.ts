import { describe, expect, test } from "bun:test";
import { createLogger } from "../../src/log.ts";
import { SinkWriter } from "../../src/engine/sink-writer.ts";
import { PartsLostError, type OutputBatch, type OutputRecord, type Sink } from "../../src/sinks/sink.ts";
import { SqliteSink } from "../../src/sinks/sqlite/sink.ts";
import { Database } from "bun:sqlite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

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
    // The queued transaction went out on its own, before the first part; add() resolved once the part was written.
    expect(batches.map((b) => [b.lsn, b.records.length, b.part])).toEqual([
      [100n, 3, undefined],
      [200n, 5, { index: 0, last: false }],
    ]);
    expect(w.durable).toBe(100n);
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
    await expect(w.add(recs(700n, 2, 2), 700n, false, false)).rejects.toThrow(/rolled back/);
    await expect(w.add(recs(700n, 4, 2), 700n, false, true)).rejects.toBeInstanceOf(PartsLostError);
    expect(batches.map((b) => b.part)).toEqual([{ index: 0, last: false }]);
    expect(w.durable).toBeNull();
    await expect(w.flush()).rejects.toBeInstanceOf(PartsLostError);
  });

  test("two pipelines streaming the same large transaction into one sqlite file share its open transaction: no deadlock, one commit", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "cdc-parts-")), "w.db");
    const sink = new SqliteSink({ path, batch_size: 100, batch_delay: 0 });
    await sink.open({ name: "lite", targets: [], stateDir: tmpdir(), log, deadLetter: () => {} });
    const tA = { name: "public.a", columns: [{ name: "id", typeOid: 20, typeMod: -1, isKey: true }], key: ["id"] };
    const tB = { ...tA, name: "public.b" };
    const mk = (t: typeof tA, lsn: bigint, from: number, n: number): OutputRecord[] => recs(lsn, from, n).map((r) => ({ ...r, table: t }));
    const opts = { batchSize: 100, batchDelayMs: 0, maxRows: 10, maxBytes: 1 << 30 };
    const a = new SinkWriter("lite", sink, "pa", opts, log, () => {});
    const b = new SinkWriter("lite", sink, "pb", opts, log, () => {});
    const count = (t: string) => {
      const db = new Database(path, { readonly: true });
      try {
        return Number((db.query(`select count(*) as n from ${t}`).get() as { n: number }).n);
      } catch {
        return 0;
      } finally {
        db.close();
      }
    };
    // As the runtime routes them: each part to pipeline a, then to pipeline b.
    for (let part = 0; part < 3; part++) {
      const last = part === 2;
      await a.add(mk(tA, 800n, part * 50, 50), 800n, false, last);
      await b.add(mk(tB, 800n, part * 50, 50), 800n, false, last);
      if (!last) expect([count("a"), count("b")]).toEqual([0, 0]);
    }
    await Promise.all([a.flush(), b.flush()]);
    expect([count("a"), count("b")]).toEqual([150, 150]);
    expect([a.durable, b.durable, sink.position("pa"), sink.position("pb")]).toEqual([800n, 800n, 800n, 800n]);
    await sink.close();
  });
});
