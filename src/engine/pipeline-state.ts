import type { Logger } from "pino";
import type { Config } from "../config/schema.ts";
import type { PipelineConfig } from "../config/pipeline-schema.ts";
import type { OutputRecord, OutputTable, Sink } from "../sinks/sink.ts";
import type { Lsn } from "../types.ts";
import type { Checkpoint } from "./checkpoint-store.ts";
import { PauseHold } from "./pause-hold.ts";
import { targetsOf, type PipelineRunner } from "./pipeline-runner.ts";
import { SinkWriter } from "./sink-writer.ts";
import { stopOnSharedServer } from "./shared-server.ts";

/** One configured pipeline as the runtime drives it: its operators, one writer per sink, its pause state and position. */
export interface PipelineState {
  runner: PipelineRunner;
  writers: SinkWriter[];
  /** Per writer: renames records for a target whose `table` differs from the runner's output. */
  renames: (((r: OutputRecord[]) => OutputRecord[]) | null)[];
  /** "config": `paused: true` in the config (skipped, caught up at the next start without it); "admin": held back (see PauseHold). */
  paused: "config" | "admin" | null;
  /** Transactions an admin-paused pipeline has not processed yet, in commit order. */
  hold: PauseHold;
  /** The pipeline is between the parts of one large transaction: a pause waits for its last part. */
  inPart: boolean;
  processedLsn: Lsn | null;
  /** Idle-tick outputs already stamped above processedLsn (see the runtime's tick). */
  ticks: { after: Lsn; n: number };
  /**
   * A new pipeline being backfilled (backfill.ts): `since` is the read's snapshot point (stream
   * transactions below it are skipped), `ended` once the read is complete, `missed` when it
   * could not be made (the next start tries again). `again`: read again after a cut, into table
   * sinks only, whose copies of its tables are cleared as each table's first chunk comes (`cleared`).
   */
  backfill?: { since: Lsn | null; ended: boolean; missed: boolean; name?: Lsn; again?: boolean; cleared?: Set<string> };
}

/** Sinks that store their position in the same transaction as the rows (cheap: moved every second, not only with data). */
const POSITION_SINKS = new Set(["postgres", "sqlite", "mysql"]);

export interface PipelineStateOptions {
  /** Queue bound per (pipeline, sink) in rows and bytes (default: 4 batches, at least 10,000 rows; 64 MiB). */
  maxQueueRows?: number;
  maxQueueBytes?: number;
  /** Bound of what a paused pipeline holds back (default 100 000 changes, 64 MiB). */
  maxPausedChanges?: number;
  maxPausedBytes?: number;
}

/**
 * The state of pipeline `p` at start: its runner's operator state and position restored from the
 * checkpoint, a SinkWriter per target (`confirm` runs when one of them makes a position durable).
 */
export function pipelineState(
  p: PipelineConfig,
  runner: PipelineRunner,
  ctx: { config: Config; checkpoint: Checkpoint | null; sinks: Map<string, Sink>; log: Logger; confirm: () => void; opts: PipelineStateOptions; fresh?: boolean; noteError?: (message: string) => void; written?: (pipeline: string, sink: string, records: readonly OutputRecord[]) => void },
): PipelineState {
  const { config, opts, log } = ctx;
  // A backfill cut short (backfill.ts) starts over: the operators' state of its first try is not restored.
  const checkpoint = ctx.fresh && ctx.checkpoint ? { ...ctx.checkpoint, state: Object.fromEntries(Object.entries(ctx.checkpoint.state).filter(([k]) => k !== p.name)) } : ctx.checkpoint;
  // One writer per sink. A pipeline's entries into one sink (allowed for redis only) are all
  // applied by each of that sink's writes: a writer per entry wrote every batch twice, and a
  // record one entry refused went to the DLQ once per entry.
  const sinksSeen = new Set<string>();
  const targets = targetsOf(p).filter((t) => !sinksSeen.has(t.sink) && !!sinksSeen.add(t.sink));
  // A pipeline's own position can be behind the checkpoint's (paused in config, or not stateful).
  const saved = checkpoint?.state[p.name] as { lsn: string | null; ops: unknown[] } | undefined;
  if (saved && runner.stateful) runner.restore(saved.ops);
  const startLsn = saved ? (saved.lsn === null ? null : BigInt(saved.lsn)) : (checkpoint?.lsn ?? null);
  const writers = targets.map((t) => {
    const o = config.sinks[t.sink].options as { batch_size?: number; batch_delay?: number };
    const batchSize = o.batch_size ?? 5000;
    return new SinkWriter(
      t.sink,
      ctx.sinks.get(t.sink)!,
      p.name,
      {
        batchSize,
        batchDelayMs: Math.min(o.batch_delay ?? 100, 100_000),
        maxRows: opts.maxQueueRows ?? Math.max(4 * batchSize, 10_000),
        maxBytes: opts.maxQueueBytes ?? 64 * 1024 * 1024,
        // Transactional sinks store their position cheaply; the others only move it with data.
        positionEveryMs: POSITION_SINKS.has(config.sinks[t.sink].type) ? 1000 : 0,
        giveUp: config.sinks[t.sink].type === "postgres" ? stopOnSharedServer(t.sink, config.source.url, (o as { url?: string }).url) : undefined,
        onFailing: ctx.noteError,
        onWritten: ctx.written && ((records) => ctx.written!(p.name, t.sink, records)),
      },
      log.child({ component: `sink:${t.sink}` }),
      ctx.confirm,
    );
  });
  const renames = targets.map((t, i) => {
    if (i === 0 || !t.table || t.table === targets[0].table) return null;
    const cache = new WeakMap<OutputTable, OutputTable>();
    const name = t.table;
    return (recs: OutputRecord[]) =>
      recs.map((r) => {
        let tb = cache.get(r.table);
        if (!tb) cache.set(r.table, (tb = { ...r.table, name }));
        return { ...r, table: tb };
      });
  });
  const hold = new PauseHold(opts.maxPausedChanges ?? 100_000, opts.maxPausedBytes ?? 64 * 1024 * 1024);
  return { runner, writers, renames, paused: p.paused ? "config" : null, hold, inPart: false, processedLsn: startLsn, ticks: { after: -1n, n: 0 } };
}
