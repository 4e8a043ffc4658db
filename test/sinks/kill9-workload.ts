/**
 * A deterministic workload for the kill -9 tests: batch i (commit LSN 1000 + 10·i) upserts
 * 40 keys out of 300 with values that depend on i, and deletes one key. `expectedState`
 * applies all of them in memory: what any sink must hold after a crash and a full replay.
 */
import type { OutputBatch } from "../../src/sinks/sink.ts";
import { batch, col, OID, rec, table } from "./helpers.ts";

export const KEYS = 300;
export const kt = table("kill_rows", [col("id", OID.int8, { key: true }), col("score", OID.numeric), col("big", OID.int8), col("label", OID.text)], ["id"]);

export function workload(n: number, pipeline = "k9"): OutputBatch[] {
  return Array.from({ length: n }, (_, i) => {
    const lsn = BigInt(1000 + 10 * i);
    const recs = Array.from({ length: 40 }, (_, j) => {
      const id = (i * 37 + j * 7) % KEYS;
      return rec(kt, "upsert", { id: BigInt(id), score: `${i}.${String(j).padStart(2, "0")}`, big: 9007199254740993n + BigInt(i), label: `b${i}` }, lsn, j);
    });
    recs.push(rec(kt, "delete", { id: BigInt((i * 11) % KEYS) }, lsn, 40));
    return batch(pipeline, recs, lsn);
  });
}

export function expectedState(batches: OutputBatch[]): Map<string, { score: string; big: string; label: string }> {
  const m = new Map<string, { score: string; big: string; label: string }>();
  for (const b of batches) {
    for (const r of b.records) {
      const id = String(r.row.id);
      if (r.op === "delete") m.delete(id);
      else m.set(id, { score: String(r.row.score), big: String(r.row.big), label: String(r.row.label) });
    }
  }
  return m;
}
