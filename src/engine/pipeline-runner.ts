import type { PipelineConfig, TargetConfig } from "../config/pipeline-schema.ts";
import type { OutputRecord, OutputTable } from "../sinks/sink.ts";
import type { Lsn, Relation, Txn } from "../types.ts";
import { MirrorMapper } from "./mirror.ts";
import { fromTables, tableMatcher } from "../config/table-refs.ts";

/** A pipeline's target: which sink, and the `to:` options for it. */
export interface Target {
  sink: string;
  table?: string;
  key?: string[];
  options: Record<string, unknown>;
}

export function targetsOf(p: PipelineConfig): Target[] {
  const list = Array.isArray(p.to) ? p.to : [p.to];
  return list.map((t) => {
    if (typeof t === "string") return { sink: t, options: {} };
    const { sink, table, key, ...rest } = t as TargetConfig;
    return { sink, table, key, options: { ...rest, ...(table ? { table } : {}), ...(key ? { key } : {}) } };
  });
}

export { qualify } from "../config/table-refs.ts";

/**
 * What the runtime drives for one pipeline: turn each routed transaction into output records,
 * emit on idle watermarks, and snapshot/restore operator state for checkpoints.
 */
export interface PipelineRunner {
  name: string;
  /** True when operators hold state (checkpointed; replays below the checkpoint are dropped). */
  stateful: boolean;
  /**
   * Output rows are computed over many source rows (GROUP BY, windows): rebuilt from a new
   * snapshot, so a cleanup transaction's removals (gap-deletes.ts) are not theirs. A row-wise
   * pipeline (select, where, join) applies them as deletes of its output rows.
   */
  aggregating?: boolean;
  /** Rows wait in it for a lookup-join match: a transaction it does not read still moves their deadline (runtime). */
  hasWaiting?(): boolean;
  /** The source tables' columns at start: output types known before a table's first change. */
  knowRelations?(relations: Relation[]): void;
  reads(table: string): boolean;
  /** Tables read beyond `from` (lookup-join tables): captured too. */
  extraTables?: string[];
  process(txn: Txn): Promise<OutputRecord[]>;
  /** Output due at wall-clock `nowMs` on an idle source, stamped with position `lsn` (see runtime's tick). */
  onWatermark(nowMs: number, lsn: Lsn): OutputRecord[];
  snapshot(): unknown[];
  restore(state: unknown[]): void;
  /** Release what the operators hold open (spill files): the runtime stops, or restarts in-process. */
  close?(): void;
}

/** Mirror pipelines: no operators, records straight from the changes. */
export function mirrorRunner(p: PipelineConfig, singleTarget?: Target): PipelineRunner {
  const from = fromTables(p);
  const reads = tableMatcher(from);
  const oneTable = new Set(from).size === 1 && !from[0].endsWith(".*");
  // `to: {key: [...]}` gives the key of a single-table mirror (a source table without a primary key).
  const mapper = new MirrorMapper(singleTarget?.key && oneTable ? singleTarget.key : null);
  // `to: {table: x}` renames the one table of a single-table mirror.
  const rename = singleTarget?.table && oneTable ? singleTarget.table : null;
  const renamed = new WeakMap<OutputTable, OutputTable>();
  return {
    name: p.name,
    stateful: false,
    reads,
    async process(txn) {
      const recs = mapper.map(txn, null).filter((r) => reads(r.source.table));
      if (!rename) return recs;
      return recs.map((r) => {
        let t = renamed.get(r.table);
        if (!t) renamed.set(r.table, (t = { ...r.table, name: rename.includes(".") ? rename : `public.${rename}` }));
        return { ...r, table: t };
      });
    },
    onWatermark: () => [],
    snapshot: () => [],
    restore: () => {},
  };
}
