import type { Config } from "../config/schema.ts";
import type { OutputRecord, SinkContext } from "../sinks/sink.ts";
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
 * Sink types that write a REPLAY_LSN batch outside their position fence. Others would store
 * position 0 (moving it backwards), so their dead letters are not replayed.
 */
const REPLAYABLE_TYPES = new Set(["mysql", "redis", "http", "bigquery"]);

export interface ReplayResult {
  replayed: number;
  failed: { id: number; error: string }[];
  skipped: { id: number; reason: string }[];
}

/**
 * Re-send dead letters to the sink that rejected them, one record per batch so a failure
 * belongs to one row; an entry is removed only once its sink accepted it.
 */
export async function replayDeadLetters(config: Config, store: DlqStore, entries: StoredDeadLetter[]): Promise<ReplayResult> {
  const result: ReplayResult = { replayed: 0, failed: [], skipped: [] };
  const bySink = new Map<string, StoredDeadLetter[]>();
  for (const e of entries) {
    const sink = config.sinks[e.stage];
    if (sink && !REPLAYABLE_TYPES.has(sink.type)) {
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
    try {
      for (const e of list) {
        rejected = null;
        const record: OutputRecord = {
          op: e.op as "upsert" | "delete",
          table: e.target!,
          row: e.row,
          lsn: e.lsn,
          index: 0,
          commitTime: 0n,
          source: { table: e.table, op: e.op!, xid: 0 },
        };
        try {
          await sink.write({ pipeline: e.pipeline, records: [record], lsn: REPLAY_LSN });
        } catch (err) {
          rejected = (err as Error).message;
        }
        if (rejected === null) {
          store.remove([e.id]);
          result.replayed++;
        } else result.failed.push({ id: e.id, error: rejected });
      }
    } finally {
      await sink.close();
    }
  }
  return result;
}
