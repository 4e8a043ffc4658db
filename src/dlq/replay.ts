import type { Config } from "../config/schema.ts";
import type { OutputRecord, Sink, SinkContext } from "../sinks/sink.ts";
import type { Lsn } from "../types.ts";
import { sinkFactory } from "../sinks/index.ts";
import { createLogger } from "../log.ts";
import type { DlqStore, StoredDeadLetter } from "./store.ts";

import { REPLAY_LSN } from "./replay-lsn.ts";
export { REPLAY_LSN };

/** The per-pipeline `to:` options of every pipeline that writes to a sink. */
export function sinkTargets(config: Config, sinkName: string): SinkContext["targets"] {
  const out: SinkContext["targets"] = [];
  for (const p of config.pipelines) {
    for (const t of Array.isArray(p.to) ? p.to : [p.to]) {
      if (typeof t === "string" ? t === sinkName : t.sink === sinkName) out.push({ pipeline: p.name, options: typeof t === "string" ? {} : { ...t } });
    }
  }
  return out;
}

/**
 * Sink types that write a REPLAY_LSN batch outside their position fence without moving the
 * stored position (mysql, redis, http, bigquery).
 */
const FENCED_TYPES = new Set(["mysql", "redis", "http", "bigquery"]);
/**
 * Sink types that store the batch LSN in the same transaction as the rows and have no fence
 * of their own (postgres, sqlite): a replay is written with the position they already hold,
 * so the stored position is rewritten unchanged. The caller makes sure no other write to the
 * sink runs meanwhile (the runtime flushes its writers; the CLI is meant for a stopped engine).
 */
const SAME_POSITION_TYPES = new Set(["postgres", "sqlite"]);
/** Sink types that append a row of a table without a key (the others de-duplicate or overwrite). */
const APPEND_TYPES = new Set(["postgres", "sqlite", "mysql"]);

export const REPLAY_CUT_REASON =
  "an earlier replay of it was cut off (the process ended) after the sink may have stored it, and its table has no key: sent again it could be there twice, so it is held back. Check the sink table, add the row by hand if it is missing, then remove the entry (dlq purge)";

export interface ReplayResult {
  replayed: number;
  failed: { id: number; error: string }[];
  skipped: { id: number; reason: string }[];
  /** Entries a newer change of the same key made stale: removed, not written (see superseded.ts). */
  superseded: { id: number; lsn: Lsn }[];
}

export function emptyReplayResult(): ReplayResult {
  return { replayed: 0, failed: [], skipped: [], superseded: [] };
}

/**
 * Drops the entries a newer change of their key has superseded (writing them would overwrite
 * that newer value, or bring back a deleted row) and returns the rest.
 */
export function withoutSuperseded(store: DlqStore, entries: StoredDeadLetter[], result: ReplayResult): StoredDeadLetter[] {
  const stale = entries.filter((e) => e.supersededLsn !== null);
  if (!stale.length) return entries;
  store.remove(stale.map((e) => e.id));
  for (const e of stale) result.superseded.push({ id: e.id, lsn: e.supersededLsn! });
  return entries.filter((e) => e.supersededLsn === null);
}

/** Dead letters grouped by the sink they go back to; what cannot be replayed is listed in `skipped`. */
export function groupBySink(config: Config, entries: StoredDeadLetter[], result: ReplayResult): Map<string, StoredDeadLetter[]> {
  const bySink = new Map<string, StoredDeadLetter[]>();
  for (const e of entries) {
    if (e.stage === "operator" && !config.sinks[e.stage]) {
      result.skipped.push({ id: e.id, reason: "rejected by an operator: POST /admin/dlq/replay on the running engine runs it through the pipeline again" });
      continue;
    }
    const sink = config.sinks[e.stage];
    if (sink && !FENCED_TYPES.has(sink.type) && !SAME_POSITION_TYPES.has(sink.type)) {
      result.skipped.push({ id: e.id, reason: `sink type ${sink.type} does not take DLQ replays` });
      continue;
    }
    if (!sink || !e.target || (e.op !== "upsert" && e.op !== "delete")) {
      result.skipped.push({ id: e.id, reason: sink ? "rejected before a sink (no target table recorded)" : `stage '${e.stage}' is not a sink in this config` });
      continue;
    }
    const list = bySink.get(e.stage);
    if (list) list.push(e);
    else bySink.set(e.stage, [e]);
  }
  return bySink;
}

/**
 * Send dead letters to an open sink, one record per batch so a failure belongs to one row;
 * an entry is removed only once the sink accepted it. `rejection()` returns what the sink's
 * deadLetter callback received during the last write (a sink that rejects a row per record
 * reports it there instead of throwing).
 */
export async function replayIntoSink(
  sink: Sink,
  sinkType: string,
  entries: StoredDeadLetter[],
  store: DlqStore,
  result: ReplayResult,
  rejection: { take(): string | null },
): Promise<void> {
  for (const e of entries) {
    // A kill between the sink's commit and store.remove left a keyed row idempotent to resend, but
    // an append to a table without a key went in twice at the next replay (QA: kill -9 during
    // `dlq replay`). So the attempt is noted first, and a noted one is never sent again blind.
    // (An update or delete addressed by its old row is no more idempotent: it would take a second equal row.)
    const append = APPEND_TYPES.has(sinkType) && e.target !== null && e.target.key.length === 0 && (e.op === "upsert" || !!e.oldRow);
    if (append && e.replayCut) {
      result.skipped.push({ id: e.id, reason: REPLAY_CUT_REASON });
      continue;
    }
    if (append) store.markReplayStarted(e.id, true);
    rejection.take();
    const record: OutputRecord = {
      op: e.op as "upsert" | "delete",
      table: e.target!,
      row: e.row,
      lsn: e.lsn,
      // the record's own index: with 0, an HTTP replay reused the Idempotency-Key (and BigQuery
      // the insertId) of its transaction's first record, and a de-duplicating receiver dropped it
      index: e.index ?? 0,
      commitTime: e.commitTime ?? 0n,
      source: { table: e.table, op: e.op!, xid: 0 },
      ...(e.oldRow ? { before: e.oldRow, byOldRow: true as const } : {}),
    };
    let error: string | null = null;
    let refused: string | null = null;
    try {
      await writeReplay(sink, sinkType, e.pipeline, [record]);
    } catch (err) {
      // Outcome unknown (a connection lost around the commit): the mark stays.
      error = (err as Error).message;
    }
    if (error === null) refused = error = rejection.take();
    if (error === null) {
      store.remove([e.id]);
      result.replayed++;
    } else {
      // Refused for its data: rolled back, so it may be sent again.
      if (append && refused !== null) store.markReplayStarted(e.id, false);
      result.failed.push({ id: e.id, error });
    }
  }
}

/** Write records out of band (DLQ replay): REPLAY_LSN for fenced sinks, the held position for postgres and sqlite. */
export function writeReplay(sink: Sink, sinkType: string, pipeline: string, records: OutputRecord[]): Promise<void> {
  return sink.write({ pipeline, records, lsn: replayLsn(sink, sinkType, pipeline) });
}

function replayLsn(sink: Sink, sinkType: string, pipeline: string): Lsn {
  // No position yet: 0 stays below every real commit LSN, so nothing the engine sends is skipped.
  return SAME_POSITION_TYPES.has(sinkType) ? (sink.position(pipeline) ?? REPLAY_LSN) : REPLAY_LSN;
}

/**
 * `cdc-engine dlq replay`: open each sink on its own and re-send its dead letters. Meant for a
 * stopped engine; with the engine running use POST /admin/dlq/replay, which goes through the
 * engine's own sinks between batches.
 */
export async function replayDeadLetters(config: Config, store: DlqStore, entries: StoredDeadLetter[]): Promise<ReplayResult> {
  const result = emptyReplayResult();
  const bySink = groupBySink(config, withoutSuperseded(store, entries, result), result);
  const log = createLogger({ level: "warn" });
  for (const [name, list] of bySink) {
    const cfg = config.sinks[name];
    const sink = sinkFactory(cfg.type)!.create(cfg.options);
    let rejected: string | null = null;
    await sink.open({
      name,
      targets: sinkTargets(config, name),
      stateDir: config.state.dir,
      log: log.child({ component: `sink:${name}` }),
      deadLetter: (_r, error) => {
        rejected = error;
      },
    });
    const rejection = {
      take: () => {
        const r = rejected;
        rejected = null;
        return r;
      },
    };
    try {
      await replayIntoSink(sink, cfg.type, list, store, result, rejection);
    } finally {
      await sink.close();
    }
  }
  return result;
}
