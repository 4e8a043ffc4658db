import type { Logger } from "pino";
import { resolve } from "node:path";
import type { Config } from "../config/schema.ts";
import { fromTables, qualify } from "../config/table-refs.ts";
import type { Runtime } from "./runtime-types.ts";
import type { Source } from "../source/source.ts";
import type { Lsn, Relation, Txn } from "../types.ts";
import type { DeadLetters } from "../dlq/dead-letters.ts";
import { formatLsn } from "../types.ts";
import { reportCheckpointAge, pipelinePaused, snapshotRows } from "../metrics/metrics.ts";
import { DlqStore } from "../dlq/store.ts";
import { changeLogTables } from "./change-log-tables.ts";
import { LeaderboardTap, leaderboardSpec } from "./leaderboard-tap.ts";
import { lockStateDir, unlockStateDir } from "./state-lock.ts";
import { CheckpointStore } from "./checkpoint-store.ts";
import { createRunner } from "./create-runner.ts";
import { createSource } from "./source-factory.ts";
import { Serial } from "./serial.ts";
import { openSinks } from "./open-sinks.ts";
import { pipelineState, type PipelineState, type PipelineStateOptions } from "./pipeline-state.ts";
import { Backfills } from "./backfill.ts";
import { dlqReplayer, ReplayGate } from "./dlq-replayer.ts";
import { healthComponents, runtimeStatus } from "./runtime-health.ts";
import { pipelineAdmin } from "./pipeline-admin.ts";
import { checkpointCoordinator } from "./checkpoint-coordinator.ts";
import { txnProcessor } from "./txn-processor.ts";
import { startIdleTicks } from "./idle-ticks.ts";
import { runtimeShutdown } from "./runtime-shutdown.ts";
import { runtimeDeadLetters } from "./runtime-dead-letters.ts";

export interface RuntimeOptions extends PipelineStateOptions {
  resnapshot?: boolean;
  /** Tests inject a fake source; serve uses the Postgres one. */
  source?: Source;
  deadLetters?: DeadLetters;
  /** Idle tick that advances watermarks (ms). */
  tickMs?: number;
  /** Directory the config was read from (transform modules and maps are relative to it). */
  configDir?: string;
}

/**
 * The engine: source → per-pipeline operators → per-sink batch writers, a checkpoint
 * coordinator, and slot confirmation (DESIGN.md "Exactly-once"). Transactions are handled
 * one at a time in commit order; checkpoints are taken between transactions after the
 * writers are flushed, so the checkpoint LSN is never ahead of what the sinks hold.
 */
export async function startRuntime(config: Config, log: Logger, opts: RuntimeOptions = {}): Promise<Runtime> {
  const stateDir = resolve(config.state.dir);
  lockStateDir(stateDir);
  const store = new CheckpointStore(stateDir, config.state.keep_checkpoints);
  const ownDlq = opts.deadLetters ? null : new DlqStore(stateDir);
  const dlq: DeadLetters = opts.deadLetters ?? ownDlq!;
  const latest = store.latest();
  const errors: { at: string; message: string }[] = [];
  const noteError = (message: string) => {
    errors.push({ at: new Date().toISOString(), message });
    if (errors.length > 20) errors.shift();
  };

  const gate = new ReplayGate();
  let sinks: Awaited<ReturnType<typeof openSinks>>["sinks"];
  let openOrder: string[];
  let deadLetterLog: Awaited<ReturnType<typeof openSinks>>["deadLetterLog"];
  try {
    ({ sinks, openOrder, deadLetterLog } = await openSinks(config, { stateDir, log, ownDlq, dlq, gate }));
  } catch (e) {
    store.close();
    ownDlq?.close();
    unlockStateDir(stateDir);
    throw e;
  }

  const serial = new Serial();
  let currentLsn: Lsn | null = null;
  let source: Source | null = null;
  const { superseded, rejectFor, refreshDlqPending, refreshDlqPendingIfChanged } = runtimeDeadLetters({ config, ownDlq, dlq, gate, log, currentLsn: () => currentLsn });
  const backfills = new Backfills(stateDir);
  const pipelines: PipelineState[] = [];
  const checkpoints = checkpointCoordinator({ store, latest, pipelines, backfills, serial, log, source: () => source, fail });
  for (const p of config.pipelines) {
    const runner = await createRunner(p, config, { configDir: opts.configDir ?? process.cwd(), reject: rejectFor(p.name) });
    pipelines.push(pipelineState(p, runner, { config, checkpoint: latest, sinks, log, confirm: checkpoints.confirm, opts, fresh: backfills.marked.has(p.name), noteError, written: superseded?.records.bind(superseded) }));
    pipelinePaused.set({ pipeline: p.name }, p.paused ? 1 : 0);
  }

  refreshDlqPending();
  const countSnapshotRows = (txn: Txn) => {
    const byTable = new Map<string, number>();
    for (const c of txn.changes) byTable.set(c.table, (byTable.get(c.table) ?? 0) + 1);
    for (const [table, n] of byTable) snapshotRows.inc({ table }, n);
  };

  let lastTxnAt = Date.now();
  let txnCount = 0;

  const board = leaderboardSpec(config.pipelines);
  const tap = board ? new LeaderboardTap(board) : null;
  const { route, processTxn, backfillTxn } = txnProcessor({ pipelines, superseded, tap, starts: store.countStart(), log });

  const fullHold = () => pipelines.find((ps) => ps.paused === "admin" && ps.hold.full());
  const onTxn = async (txn: Txn) => {
    // A paused pipeline whose hold is full: take nothing more from the source until it is resumed
    // (the source awaits onTxn, so TCP backpressure holds the walsender). Waited outside the
    // serial queue so that resume, checkpoints and stop still run.
    for (let full = fullHold(); full && !stopping(); full = fullHold()) {
      log.warn({ pipeline: full.runner.name, heldChanges: full.hold.changes, heldBytes: full.hold.bytes }, "paused pipeline's hold is full: the source is held until it is resumed");
      await full.hold.waitForRelease();
    }
    return serial.run(async () => {
      if (stopping()) return;
      lastTxnAt = Date.now();
      currentLsn = txn.lsn;
      txnCount++;
      if (txn.snapshot && !txn.cleanup) countSnapshotRows(txn);
      if (txn.backfill) return backfillTxn(txn);
      for (const ps of pipelines) {
        if (ps.paused === "config") continue;
        // A backfilled pipeline's read holds what committed before its snapshot point.
        if (ps.backfill?.since != null && !txn.snapshot && txn.lsn < ps.backfill.since) continue;
        if (ps.paused === "admin" && !ps.inPart) {
          // Only what the pipeline reads: other tables' transactions and idle progress would fill the hold for nothing.
          if (txn.changes.some((c) => ps.runner.reads(c.table))) ps.hold.add(txn);
          continue;
        }
        await processTxn(ps, txn);
      }
      await checkpoints.afterTxn(txn); // after every pipeline took it: a cut here holds the whole transaction
    });
  };

  const onSchemaChange = (rel: Relation) => log.info({ table: rel.table, columns: rel.columns.map((c) => c.name) }, "source table changed");

  checkpoints.startTimer(config.state.checkpoint_interval);
  reportCheckpointAge(() => {
    const checkpoint = checkpoints.checkpoint();
    return checkpoint ? (Date.now() - checkpoint.createdAt) / 1000 : 0;
  });
  const stopTicks = startIdleTicks({ pipelines, serial, tickMs: opts.tickMs ?? 1000, lastTxnAt: () => lastTxnAt, midTxn: checkpoints.midTxn, route, refreshDlqPending: refreshDlqPendingIfChanged, fail });

  const { pipelineNamed, pause, resume } = pipelineAdmin({ pipelines, serial, log, processTxn });
  const replayDlq = dlqReplayer({ config, pipelines, sinks, dlq: ownDlq, serial, gate, log, pipelineNamed, refreshDlqPending });

  function fail(e: unknown) {
    const err = e instanceof Error ? e : new Error(String(e));
    noteError(err.message);
    log.error({ err: err.message }, "runtime failed");
    void shutdown(err);
  }

  const { shutdown, stopping, done } = runtimeShutdown({
    pipelines,
    sinks,
    serial,
    store,
    ownDlq,
    stateDir,
    log,
    source: () => source,
    checkpoint: checkpoints.checkpoint,
    afterSinksClosed: () => deadLetterLog.flush(),
    stopTimers: () => {
      checkpoints.stopTimer();
      stopTicks();
      reportCheckpointAge(null);
    },
    takeCheckpoint: checkpoints.takeCheckpoint,
    abandonCut: checkpoints.abandonCut,
    noteError,
  });

  try {
    source = opts.source ?? (await createSource(config.source, { stateDir, log: log.child({ component: "source" }) }));
  } catch (e) {
    await shutdown(e as Error);
    throw e;
  }
  const fromTablesAll = config.pipelines.flatMap(fromTables);
  // Lookup-join tables are captured too: their rows are the join state. They come first, so the
  // initial snapshot reads them before the rows that join them: read after a large table, every
  // one of its rows waited out `wait` and went on with NULLs (QA: 140,000 join misses).
  const joinTables = config.pipelines.flatMap((p) => (p.join ?? []).map((j) => qualify(j.table)));
  const tables = [...new Set([...joinTables, ...fromTablesAll, ...pipelines.flatMap((ps) => ps.runner.extraTables ?? [])])];
  source.done.then((e) => {
    if (e && !stopping()) fail(e);
  });
  const backfill = backfills.choose(config, checkpoints.checkpoint(), pipelines, log);
  const reselectToast = changeLogTables(config);
  source
    .start({ tables, ...(reselectToast.length ? { reselectToast } : {}), checkpointLsn: checkpoints.checkpoint()?.lsn ?? null, resnapshot: opts.resnapshot === true, sinksHoldData: pipelines.some((ps) => ps.writers.some((w) => w.startPosition !== null)), onTxn, onSchemaChange, onRelations: (rels) => pipelines.forEach((ps) => ps.runner.knowRelations?.(rels)), ...(backfill.length ? { backfill } : {}) })
    .catch((e) => {
      if (!stopping()) fail(e);
    });
  const checkpoint = checkpoints.checkpoint();
  log.info({ pipelines: pipelines.map((p) => p.runner.name), checkpoint: checkpoint ? formatLsn(checkpoint.lsn) : null, sinks: openOrder }, "runtime started");

  const view = {
    source,
    sinks,
    openOrder,
    pipelines,
    stateDir,
    checkpointIntervalMs: config.state.checkpoint_interval,
    startedAt: Date.now(),
    checkpoint: checkpoints.checkpoint,
    lastLsn: checkpoints.lastLsn,
    lastConfirmed: checkpoints.lastConfirmed,
    transactions: () => txnCount,
    errors: () => errors,
  };
  return {
    components: () => healthComponents(view),
    status: () => runtimeStatus(view),
    stop: () => shutdown(null),
    ...(tap ? { leaderboard: () => tap.top() } : {}),
    done,
    pause,
    resume,
    replayDlq,
    checkpoint: async () => {
      const t0 = performance.now();
      await serial.run(() => checkpoints.takeCheckpoint(true));
      const taken = checkpoints.checkpoint();
      return { lsn: taken ? formatLsn(taken.lsn) : undefined, durationMs: Math.round(performance.now() - t0) };
    },
  };
}
