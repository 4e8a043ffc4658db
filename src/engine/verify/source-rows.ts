import type { Pg } from "../../db/postgres-client.ts";
import type { Column } from "../../types.ts";
import type { TypeDecoders } from "../../source/postgres/type-decoders.ts";
import { asOutputText } from "../../source/postgres/output-text.ts";
import { qi, qualified } from "../../sinks/postgres/values.ts";
import { canonicalSide } from "./canonical.ts";
import { rangeWhere } from "./postgres-side.ts";
import type { ChunkSide, TablePlan } from "./types.ts";
import { pgBounded } from "./lock-wait.ts";

/** The key columns of a plan, with their types. */
export function keyColumns(plan: TablePlan): Column[] {
  return plan.key.map((k) => plan.rel.columns.find((c) => c.name === k)!);
}

/** Indexes of the key columns in `cols` (none when one is not compared: the whole row identifies it). */
export function keyIndexes(plan: TablePlan, cols: Column[]): number[] {
  const idx = plan.key.map((k) => cols.findIndex((c) => c.name === k));
  return idx.includes(-1) ? [] : idx;
}

/**
 * The source side for a sink compared in TypeScript: each row read as the snapshot reads it
 * (asOutputText: each column as its output function prints it), decoded by the stream's own decoders, then
 * passed through the sink's write conversion (`toStored`): what that sink would hold. Streamed
 * with a cursor, so a chunk (or a table compared in one pass) is never held in memory.
 */
export function sourceSide(src: Pg, plan: TablePlan, cols: Column[], types: TypeDecoders, toStored: (v: unknown, c: Column) => unknown): ChunkSide {
  const select = cols.map((c) => asOutputText(qi(c.name), c.typeOid, types));
  const decoders = cols.map((c) => types.decoder(c.typeOid));
  const keyCols = keyColumns(plan);
  return canonicalSide(cols, keyIndexes(plan, cols), async (r, each) => {
    const w = plan.ranged ? rangeWhere(plan.key, r, keyCols) : { sql: "", params: [] };
    await pgBounded(src, plan.table, "source", plan.lockMs, async (tx) => {
      const q = tx.unsafe(`select ${select.join(", ")} from ${qualified(plan.table)} ${w.sql}`, w.params).values();
      for await (const rows of q.cursor(2000) as AsyncIterable<(string | null)[][]>) {
        for (const row of rows) each(row.map((t, i) => (t === null ? null : toStored(decoders[i](t), cols[i]))));
      }
    });
  });
}

/** A range bound (source text) as the sink stores that key value. */
export function boundValues(texts: string[], keyCols: Column[], types: TypeDecoders, toStored: (v: unknown, c: Column) => unknown): unknown[] {
  return texts.map((t, i) => toStored(types.decoder(keyCols[i].typeOid)(t), keyCols[i]));
}

/** Key types whose values the SQLite and MySQL sinks store so that they order as in Postgres (text bytewise). */
const RANGE_SAFE = new Set([20, 21, 23, 26, 25, 1043, 2950, 1082, 1114, 1184]);

export function bytewiseRangeSafe(key: Column[]): boolean {
  return key.length > 0 && key.every((c) => RANGE_SAFE.has(c.typeOid));
}
