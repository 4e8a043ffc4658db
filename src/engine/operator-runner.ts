import type { PipelineConfig } from "../config/pipeline-schema.ts";
import type { OutputRecord, OutputTable } from "../sinks/sink.ts";
import type { Relation, Txn } from "../types.ts";
import type { EmittedRow, Operator } from "./operators/operator.ts";
import type { CompiledPipeline } from "./operators/index.ts";
import type { PipelineRunner, Target } from "./pipeline-runner.ts";

/** A full state every this many checkpoints bounds the delta chain a restore replays. */
const FULL_EVERY = 50;

/**
 * An incremental operator's part of a checkpoint: the checkpoint store keeps the chain of links
 * since the last full one and hands the whole chain back (`$chain: [state, ...]`) on restore.
 */
export interface ChainLink {
  $chain: "full" | "delta";
  state: unknown;
}

/**
 * Drives a compiled operator chain (src/engine/operators/) for one pipeline: each operator's
 * emitted rows go to the next; the last one's rows become sink records for the pipeline's
 * output table (`to.table`, else the pipeline name), with the compiled key and columns.
 */
export function operatorRunner(p: PipelineConfig, compiled: CompiledPipeline, target: Target | undefined): PipelineRunner {
  const tables = new Set(compiled.tables);
  const relations = new Map<string, Relation>();
  let table: OutputTable | null = null;
  let lastCommit = 0n;
  /** per operator: incremental checkpoints since its last full one */
  const sinceFull: number[] = [];
  const name = target?.table ?? p.name;

  const outputTable = (): OutputTable => {
    if (!table) {
      const columns = compiled.outputColumns(relations);
      const key = compiled.key.length ? compiled.key : columns.filter((c) => c.isKey).map((c) => c.name);
      // Only an aggregate's group may be NULL (SQL's GROUP BY); a select's to.key is a row's
      // identity, made a primary key in the sinks (a NULL there is the row's error: DLQ).
      table = { name, columns, key, ...(compiled.key.length && compiled.groupKey ? { nullableKey: true } : {}) };
    }
    return table;
  };

  const toRecords = (rows: EmittedRow[], lsn: bigint, commitTime: bigint, xid: number): OutputRecord[] => {
    if (!rows.length) return [];
    const t = outputTable();
    return rows.map((r, index) => ({
      op: r.op,
      table: t,
      row: r.row,
      before: r.before ?? null,
      unchangedToast: r.unchangedToast,
      truncate: r.op === "truncate" ? (r.source?.truncate ?? { cascade: false, restartIdentity: false }) : undefined,
      lsn,
      index,
      commitTime,
      source: { table: r.source?.table ?? "", op: r.source?.op ?? "watermark", xid },
    }));
  };

  /** Runs the chain: operator i's output rows are handed to operator i+1 as one transaction. */
  const run = async (ops: Operator[], txn: Txn): Promise<EmittedRow[]> => {
    let out: EmittedRow[] = [];
    let input: Txn = txn;
    for (let i = 0; i < ops.length; i++) {
      out = [];
      await ops[i].process(input, (r) => out.push(r));
      if (i < ops.length - 1) input = { ...txn, changes: out.map((r) => ({ op: r.op === "delete" ? "delete" : r.op === "truncate" ? "truncate" : "insert", table: p.name, relation: r.source!.relation, after: r.row, before: r.before ?? null })) };
    }
    return out;
  };

  return {
    name: p.name,
    stateful: true,
    aggregating: compiled.groupKey === true,
    hasWaiting: () => compiled.operators.some((o) => o.hasWaiting?.() === true),
    // Before any row: an output table is known even for rows released from the checkpoint (a join
    // waiting) before their table's next change.
    knowRelations(rels) {
      for (const rel of rels) if (tables.has(rel.table) && !relations.has(rel.table)) relations.set(rel.table, rel);
      for (const o of compiled.operators) o.knowRelations?.(rels);
      // Compiled against the columns now, before the source makes its slot: an unknown column or a
      // to.key naming no output was found at the first row, after `serve` had created the slot,
      // which then held WAL after the exit 2.
      if (relations.has(compiled.tables[0])) compiled.outputColumns(relations);
    },
    reads: (t) => tables.has(t),
    extraTables: [...tables],
    async process(txn) {
      for (const c of txn.changes) {
        const prev = relations.get(c.table);
        if (prev !== c.relation) {
          relations.set(c.table, c.relation);
          if (prev && (prev.columns.length !== c.relation.columns.length || prev.columns.some((x, i) => x.name !== c.relation.columns[i].name || x.typeOid !== c.relation.columns[i].typeOid))) table = null;
        }
      }
      lastCommit = txn.commitTime;
      const rows = await run(compiled.operators, txn);
      return toRecords(rows, txn.lsn, txn.commitTime, txn.xid);
    },
    onWatermark(nowMs, lsn) {
      const rows: EmittedRow[] = [];
      for (const op of compiled.operators) op.onWatermark?.(nowMs, (r) => rows.push(r));
      return toRecords(rows, lsn, lastCommit, 0);
    },
    snapshot: () => compiled.operators.map((o, i) => {
      if (!o.snapshotDelta) return o.snapshot();
      // a chain link for the checkpoint store: it keeps a full one and the deltas after it
      const full = sinceFull[i] === undefined || sinceFull[i] >= FULL_EVERY;
      if (full && sinceFull[i] !== undefined) o.fullNext?.();
      sinceFull[i] = full ? 0 : sinceFull[i] + 1;
      return { $chain: full ? "full" : "delta", state: o.snapshotDelta() } satisfies ChainLink;
    }),
    restore: (state) =>
      compiled.operators.forEach((o, i) => {
        const s = state[i] as Partial<ChainLink> & { $chain?: unknown[] | string } | undefined;
        if (s === undefined) return;
        if (Array.isArray(s.$chain)) for (const link of s.$chain) o.restore(link);
        else if (typeof s.$chain === "string") o.restore(s.state);
        else o.restore(s);
      }),
    close: () => {
      for (const o of compiled.operators) o.close?.();
    },
  };
}
