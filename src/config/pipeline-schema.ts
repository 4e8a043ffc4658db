import { z } from "zod";
import { byteSize, duration, span, tableRef } from "./fields.ts";

/**
 * One pipeline: which tables it reads (`from`), what it does to them (filter, projection,
 * joins, windows, aggregates), and where the result goes (`to`). Sink-specific target
 * options (redis key templates, bigquery partitioning...) are validated by the sink's
 * own targetSchema in load.ts, so `to` objects stay open here.
 */
export const targetSchema = z.looseObject({
  sink: z.string().min(1),
  /** Target table; default: the source schema.table (mirrors) or the pipeline name. */
  table: z.string().min(1).optional(),
  key: z.array(z.string().min(1)).min(1).optional(),
});

export const joinSchema = z.strictObject({
  table: tableRef,
  /** "left_column = joined_table.column" */
  on: z.string().min(1),
  columns: z.array(z.string().min(1)).min(1).optional(),
  /** Another name for the joined table in expressions (default: its table name). */
  as: z.string().min(1).optional(),
  /** Prefix for joined columns that would clash with the row's own. */
  prefix: z.string().optional(),
  /** How long a row waits for a missing match before going on with NULLs. */
  wait: duration.default(5000),
});

export const windowSchema = z.strictObject({
  type: z.enum(["tumbling", "sliding", "session"]),
  size: span.optional(),
  slide: span.optional(),
  gap: span.optional(),
  /** Event-time column, or "commit_time" for the source commit time. */
  time: z.string().min(1).default("commit_time"),
  /** Group columns (after select), or "expr AS name". */
  key: z.array(z.string().min(1)).default([]),
  lateness: span.default(0),
  late: z.enum(["update", "dlq"]).default("update"),
  emit: z.enum(["close", "change"]).default("close"),
  /** How long an idle source waits before the wall clock advances the watermark. */
  idle_timeout: duration.default(10_000),
  /** How long a closed window's state is kept (past the watermark) to apply late rows and retractions. */
  retention: span.default(86_400_000),
});

export const pipelineSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, "must be letters, digits, _ or -"),
  from: z.union([tableRef, z.array(tableRef).min(1)]),
  to: z.union([z.string().min(1), targetSchema, z.array(z.union([z.string().min(1), targetSchema])).min(1)]),
  /**
   * Apply each source transaction atomically and in commit order: always the case, so only
   * `true` is accepted. `false` would let a batch end inside a source transaction; the stored
   * position (a commit LSN) could then not say which of its rows a sink holds, and a replay
   * would duplicate rows of tables without a key. Larger batches come from the sink's batch_size.
   */
  transactional: z
    .boolean()
    .optional()
    .refine((v) => v !== false, "false is not supported: every batch ends on a source-transaction boundary (that is how exactly-once holds); for larger batches raise the sink's batch_size"),
  where: z.string().min(1).optional(),
  select: z.array(z.string().min(1)).min(1).optional(),
  join: z.array(joinSchema).optional(),
  window: windowSchema.optional(),
  aggregate: z.record(z.string(), z.string().min(1)).optional(),
  /** Group key of an aggregate without a window (a continuously updated GROUP BY). */
  group_by: z.array(z.string().min(1)).min(1).optional(),
  /** Path of a TypeScript/JavaScript module exporting `transform(row, ctx)`. */
  transform: z.string().min(1).optional(),
  /** Memory budget for this pipeline's operator state (windows, join tables): past it, cold state moves to state.dir (default: a share of state.memory_budget). */
  state_budget: byteSize.optional(),
  /** Rows failing any of these go to the dead-letter queue with the rule's message. */
  validate: z.array(z.strictObject({ rule: z.string().min(1), message: z.string().optional() })).optional(),
  /**
   * The source rows are never updated or deleted (events): aggregates keep no per-row state (and
   * MIN/MAX only their extreme), so a GROUP BY without a window stays small; an update or delete
   * goes to the dead-letter queue instead of being retracted.
   */
  append_only: z.boolean().default(false),
  paused: z.boolean().default(false),
  /** Show this pipeline's output as the dashboard's leaderboard (default: the first pipeline into a Redis zset). */
  leaderboard: z
    .strictObject({ member: z.string().min(1), score: z.string().min(1), label: z.string().min(1).optional(), top: z.number().int().min(1).max(100).default(10) })
    .optional(),
});
export type PipelineConfig = z.infer<typeof pipelineSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
