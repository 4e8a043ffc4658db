import type { Logger } from "pino";
import { resolve } from "node:path";
import type { Config } from "../config/schema.ts";
import { fromTables, qualify } from "../config/table-refs.ts";
import type { Runtime } from "./runtime-types.ts";
import type { OutputRecord } from "../sinks/sink.ts";
import type { Source } from "../source/source.ts";
import type { Lsn, Relation, Txn } from "../types.ts";
import type { DeadLetters } from "../dlq/dead-letters.ts";
import { formatLsn } from "../types.ts";
import { errorMessage } from "../errors.ts";
import { reportCheckpointAge, checkpointLsn as checkpointLsnGauge, checkpointSeconds, dlqPendingRows, pipelinePaused, snapshotRows } from "../metrics/metrics.ts";
import { DlqStore } from "../dlq/store.ts";
import { SupersededLetters } from "../dlq/superseded.ts";
import { changeLogTables } from "./change-log-tables.ts";
import { LeaderboardTap, leaderboardSpec } from "./leaderboard-tap.ts";
import { lockStateDir, unlockStateDir } from "./state-lock.ts";
import { CheckpointStore, type Checkpoint } from "./checkpoint-store.ts";
import { createRunner } from "./create-runner.ts";
import { createSource } from "./source-factory.ts";
import { Serial } from "./serial.ts";
import { PendingCut } from "./checkpoint-cut.ts";
import { openSinks } from "./open-sinks.ts";
import { pipelineState, type PipelineState, type PipelineStateOptions } from "./pipeline-state.ts";
import { Backfills } from "./backfill.ts";
import { dlqReplayer, ReplayGate } from "./dlq-replayer.ts";
import { healthComponents, runtimeStatus } from "./runtime-health.ts";
import { pipelineAdmin } from "./pipeline-admin.ts";

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
 * Output emitted on an idle tick (windows closing, join rows released) has no source transaction
 * of its own. It is stamped processedLsn + n: above everything the sinks hold, so their position
 * fences accept it, and still below the next commit LSN (a WAL record is longer than the few
 * bytes used here). Past MAX_TICKS_PER_LSN the output waits for the next transaction or heartbeat.
 */
const MAX_TICKS_PER_LSN = 16;

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
  let checkpoint: Checkpoint | null = store.latest();
  const errors: { at: string; message: string }[] = [];
  const noteError = (message: string) => {
    errors.push({ at: new Date().toISOString(), message });
    if (errors.length > 20) errors.shift();
  };

  const gate = new ReplayGate();
  let sinks: Awaited<ReturnType<typeof openSinks>>["sinks"];
  let openOrder: string[];
  try {
    ({ sinks, openOrder } = await openSinks(config, { stateDir, log, ownDlq, dlq, gate }));
  } catch (e) {
    store.close();
    ownDlq?.close();
    unlockStateDir(stateDir);
    throw e;
  }

  let resolveDone!: (e: Error | null) => void;
  const done = new Promise<Error | null>((r) => (resolveDone = r));
  let finished = false;
  const finish = (e: Error | null) => {
    if (finished) return;
    finished = true;
    resolveDone(e);
  };

  const cut = new PendingCut();
  let lastConfirmed: Lsn | null = null;
  let currentLsn: Lsn | null = null;
  let source: Source | null = null;
  const confirm = () => {
    cut.progress();
    if (!source) return;
    let min: Lsn | null = null;
    for (const ps of pipelines) {
      for (const w of ps.writers) {
        const c = w.confirmable();
        if (c === null) return;
        if (min === null || c < min) min = c;
      }
    }
    // The source treats a slot confirmed past the checkpoint as lost changes: never go beyond it.
    if (!checkpoint) return;
    if (min === null || checkpoint.lsn < min) min = checkpoint.lsn;
    if (min === null || (lastConfirmed !== null && min <= lastConfirmed)) return;
    lastConfirmed = min;
    source.confirm(min);
  };

  // Dead letters a newer change of their key went past (sink batches written, changes processed).
  const superseded = ownDlq
    ? new SupersededLetters(ownDlq, () => log.warn({ limit: SupersededLetters.LIMIT }, "the dead-letter queue holds more keys than are watched for newer changes: entries past the limit are replayed as captured, even when a newer change of their key came since"))
    : null;
  const backfills = new Backfills(stateDir);
  const pipelines: PipelineState[] = [];
  for (const p of config.pipelines) {
    const runner = await createRunner(p, config, {
      configDir: opts.configDir ?? process.cwd(),
      reject: (r) => {
        if (gate.intercept(`pipeline:${p.name}`, r.reason)) return; // a replayed row rejected again: it keeps its queue entry
        const entry = { pipeline: p.name, stage: "operator", table: r.source?.table ?? "", row: r.row, error: r.reason, lsn: currentLsn ?? 0n };
        const queued = ownDlq ? ownDlq.put({ ...entry, ...(r.source ? { source: r.source } : {}) }) : dlq.put(entry);
        if (queued !== false) dlqPendingRows.inc({ pipeline: p.name });
      },
    });
    pipelines.push(pipelineState(p, runner, { config, checkpoint, sinks, log, confirm, opts, fresh: backfills.marked.has(p.name), noteError, written: superseded?.records.bind(superseded) }));
    pipelinePaused.set({ pipeline: p.name }, p.paused ? 1 : 0);
  }

  /** cdc_engine_dlq_pending_rows from the store (puts increment it in between; `dlq purge` from the CLI shows up here). */
  const refreshDlqPending = () => {
    try {
      for (const p of config.pipelines) dlqPendingRows.set({ pipeline: p.name }, dlq.count(p.name));
    } catch (e) {
      log.warn({ err: errorMessage(e) }, "cannot count dead letters");
    }
  };
  refreshDlqPending();
  const countSnapshotRows = (txn: Txn) => {
    const byTable = new Map<string, number>();
    for (const c of txn.changes) byTable.set(c.table, (byTable.get(c.table) ?? 0) + 1);
    for (const [table, n] of byTable) snapshotRows.inc({ table }, n);
  };

  const serial = new Serial();
  let lastTxnAt = Date.now();
  let lastLsn: Lsn | null = checkpoint?.lsn ?? null;
  let checkpointDue = false;
  let midTxn = false;
  let stopping = false;
  let txnCount = 0;

  const board = leaderboardSpec(config.pipelines);
  const tap = board ? new LeaderboardTap(board) : null;
  const route = async (ps: PipelineState, records: OutputRecord[], lsn: Lsn, snapshot: boolean, complete = true) => {
    if (tap && records.length && ps.runner.name === tap.spec.pipeline) tap.add(records);
    if (ps.writers.length === 1) return ps.writers[0].add(records, lsn, snapshot, complete);
    await Promise.all(ps.writers.map((w, i) => w.add(ps.renames[i] ? ps.renames[i]!(records) : records, lsn, snapshot, complete)));
  };
  // Record indexes keep counting across the parts of one large transaction (a stable identity per LSN).
  const partOffset = new Map<string, number>();
  const snapshotOffset = new Map<string, number>();
  // Each start numbers its snapshot records above the last start's (same LSN after a resume): a
  // sink's progress by (lsn, index) and a Redis stream's entry IDs do not take a re-read row for
  // one already written (record-identity.ts). 2^32 records a start, 2^20 starts before it wraps.
  const snapshotIndexBase = ((store.countStart() - 1) % 2 ** 20) * 2 ** 32;

  /**
   * Cut a checkpoint at this transaction boundary (operator state + LSN) and store it once every
   * writer holds that LSN (see PendingCut). `flush`: write out what the writers queue and wait
   * until the cut is stored (shutdown, the admin endpoint, a server waiting for the slot).
   */
  const takeCheckpoint = async (flush = false) => {
    if (midTxn) return; // operator state mid-way through a multi-part transaction is no consistent cut
    if (cut.busy) {
      if (!flush) return; // checkpointDue stays set: the next boundary after this cut is stored takes it
      await cut.settled();
    }
    checkpointDue = false;
    if (lastLsn === null) return;
    const t0 = performance.now();
    const lsn = lastLsn;
    const state: Record<string, unknown[]> = {};
    for (const ps of pipelines) {
      if (ps.runner.stateful) state[ps.runner.name] = { lsn: ps.processedLsn?.toString() ?? null, ops: ps.runner.snapshot() } as unknown as unknown[];
    }
    const writers = pipelines.flatMap((ps) => ps.writers);
    const marks = writers.map((w) => w.mark());
    // Backfills complete at this cut are done for good once it is stored (backfill.ts).
    const backfilled = pipelines.filter((ps) => ps.backfill?.ended && !ps.backfill.missed && backfills.marked.has(ps.runner.name)).map((ps) => ps.runner.name);
    // The source's own part of the cut (snapshot progress of the chunks handed over so far), kept once the cut is stored.
    const sourceCut = source?.checkpointCut?.();
    const stored = cut.start(
      () => writers.every((w, i) => w.holds(marks[i])),
      () => {
        checkpoint = store.save(lsn, state);
        sourceCut?.();
        if (backfilled.length) backfills.clear(backfilled);
        checkpointSeconds.observe((performance.now() - t0) / 1000);
        checkpointLsnGauge.set(Number(checkpoint.lsn));
        log.debug({ lsn: formatLsn(checkpoint.lsn) }, "checkpoint");
        confirm();
      },
    );
    if (flush) {
      await Promise.all(writers.map((w) => w.flush()));
      await stored;
    } else void stored.catch(fail);
  };

  /** One transaction (or part) through one pipeline's operators to its writers. */
  const processTxn = async (ps: PipelineState, txn: Txn) => {
    // Operators already saw everything up to the checkpoint; sinks skip by their own position.
    if (ps.runner.stateful && !txn.snapshot && ps.processedLsn !== null && txn.lsn <= ps.processedLsn) return;
    // Windows and GROUP BY rebuild their state from the new snapshot: the rows removed before it are
    // not theirs. Mirrors and row-wise pipelines (select, where, join) delete those rows' outputs.
    // A truncate is theirs: --resnapshot after lost changes clears every table this way, and their
    // state restored from the checkpoint still held rows deleted in the lost changes (QA: a GROUP BY
    // counted 2,601 rows of 1,935). After an early crash their state is empty: it takes nothing back.
    if (ps.runner.aggregating && txn.cleanup) {
      const truncates = txn.changes.filter((c) => c.op === "truncate");
      if (!truncates.length) return;
      txn = { ...txn, changes: truncates };
    }
    const touches = txn.changes.some((c) => ps.runner.reads(c.table));
    // Rows waiting for a join match expire by commit time: traffic on other tables moves it on
    // too (the idle tick alone never came while other tables were busy: QA saw 38 s for 2 s).
    const expire = !touches && !txn.part && !txn.snapshot && ps.runner.hasWaiting?.() === true;
    if (touches) superseded?.changes(ps.runner.name, txn.changes, txn.lsn);
    let records = touches ? await ps.runner.process(txn) : expire ? await ps.runner.process({ ...txn, changes: [] }) : [];
    const complete = !txn.part || txn.part.last;
    ps.inPart = !complete;
    if (txn.part) {
      const off = txn.part.index === 0 ? 0 : (partOffset.get(ps.runner.name) ?? 0);
      if (off) records = records.map((r) => ({ ...r, index: r.index + off }));
      partOffset.set(ps.runner.name, off + records.length);
    } else if (txn.snapshot) {
      // Every snapshot chunk has the same LSN: indexes keep counting across chunks, so (lsn, index)
      // stays one record's identity (HTTP Idempotency-Key, BigQuery insertId).
      const off = snapshotOffset.get(ps.runner.name) ?? snapshotIndexBase;
      const of = txn.snapshotOf;
      if (off || of !== undefined) records = records.map((r) => ({ ...r, index: r.index + off, ...(of !== undefined ? { snapshotOf: of } : {}) }));
      snapshotOffset.set(ps.runner.name, off + records.length);
    }
    await route(ps, records, txn.lsn, txn.snapshot === true, complete);
    if (complete && (ps.processedLsn === null || txn.lsn > ps.processedLsn)) ps.processedLsn = txn.lsn;
  };

  /** A new pipeline's backfill chunk or end marker (backfill.ts): for the pipelines being backfilled only. */
  const backfillTxn = async (txn: Txn) => {
    const b = txn.backfill!;
    for (const ps of pipelines) {
      if (!ps.backfill) continue;
      if (b.since !== null) ps.backfill.since = b.since;
      if (b.end) {
        ps.backfill.ended = true;
        ps.backfill.missed = b.missed === true;
        if (b.since === null) continue; // nothing was read for it (see backfill-read.ts)
        log.info({ pipeline: ps.runner.name }, `backfill of pipeline '${ps.runner.name}' read; it goes on with the stream`);
      }
      await processTxn(ps, txn);
    }
  };

  const fullHold = () => pipelines.find((ps) => ps.paused === "admin" && ps.hold.full());
  const onTxn = async (txn: Txn) => {
    // A paused pipeline whose hold is full: take nothing more from the source until it is resumed
    // (the source awaits onTxn, so TCP backpressure holds the walsender). Waited outside the
    // serial queue so that resume, checkpoints and stop still run.
    for (let full = fullHold(); full && !stopping; full = fullHold()) {
      log.warn({ pipeline: full.runner.name, heldChanges: full.hold.changes, heldBytes: full.hold.bytes }, "paused pipeline's hold is full: the source is held until it is resumed");
      await full.hold.waitForRelease();
    }
    return serial.run(async () => {
      if (stopping) return;
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
      midTxn = !!txn.part && !txn.part.last;
      if (midTxn) return; // checkpoints only between whole transactions
      if (lastLsn === null || txn.lsn > lastLsn) lastLsn = txn.lsn;
      // The server waits for the slot to reach this position (e.g. a fast shutdown): checkpoint
      // now rather than at the next interval, at most once a second.
      if (txn.awaited && (!checkpoint || (txn.lsn > checkpoint.lsn && Date.now() - checkpoint.createdAt >= 1000))) checkpointDue = true;
      if (checkpointDue) await takeCheckpoint(txn.awaited === true);
    });
  };

  const onSchemaChange = (rel: Relation) => log.info({ table: rel.table, columns: rel.columns.map((c) => c.name) }, "source table changed");

  const checkpointTimer = setInterval(() => {
    checkpointDue = true;
    if (serial.idle() && !midTxn) void serial.run(() => takeCheckpoint()).catch(fail);
  }, config.state.checkpoint_interval);
  reportCheckpointAge(() => (checkpoint ? (Date.now() - checkpoint.createdAt) / 1000 : 0));
  const tickMs = opts.tickMs ?? 1000;
  let lastDlqRefresh = Date.now();
  const tick = setInterval(() => {
    if (Date.now() - lastDlqRefresh >= 10_000) {
      lastDlqRefresh = Date.now();
      refreshDlqPending();
    }
    if (Date.now() - lastTxnAt < tickMs || !serial.idle() || midTxn) return;
    void serial
      .run(async () => {
        for (const ps of pipelines) {
          if (ps.paused) continue;
          if (ps.processedLsn === null) continue;
          if (ps.ticks.after !== ps.processedLsn) ps.ticks = { after: ps.processedLsn, n: 0 };
          if (ps.ticks.n >= MAX_TICKS_PER_LSN) continue;
          const lsn = ps.processedLsn + BigInt(ps.ticks.n + 1);
          const recs = ps.runner.onWatermark(Date.now(), lsn);
          if (!recs.length) continue;
          ps.ticks.n++;
          await route(ps, recs, lsn, true);
        }
      })
      .catch(fail);
  }, tickMs);

  const { pipelineNamed, pause, resume } = pipelineAdmin({ pipelines, serial, log, processTxn });
  const replayDlq = dlqReplayer({ config, pipelines, sinks, dlq: ownDlq, serial, gate, log, pipelineNamed, refreshDlqPending });

  function fail(e: unknown) {
    const err = e instanceof Error ? e : new Error(String(e));
    noteError(err.message);
    log.error({ err: err.message }, "runtime failed");
    void shutdown(err);
  }

  let stopped: Promise<void> | null = null;
  let sinksClosed: Promise<unknown> | null = null;
  const closeSinks = () => (sinksClosed ??= Promise.all([...sinks.values()].map((s) => s.close().catch(() => {}))));
  const shutdown = (reason: Error | null): Promise<void> =>
    (stopped ??= (async () => {
      stopping = true;
      for (const ps of pipelines) ps.hold.release(); // a source held by a full pause hold lets go
      clearInterval(checkpointTimer);
      clearInterval(tick);
      reportCheckpointAge(null);
      // The source stays connected until the final checkpoint is confirmed to it (onTxn ignores
      // what arrives meanwhile: it was never confirmed, so the slot sends it again after a restart).
      // A sink that stays down must not hold the stop forever.
      // Closing the sinks too: a write in flight inside a sink (BigQuery's retry of a refused
      // connection, a webhook's) was not ended by the writers' give-up, and the flush waited on
      // it for good (QA: serve still running 70 s after SIGTERM, past systemd's stop timeout).
      const giveUp = setTimeout(() => {
        log.warn("a sink has not taken the final batches in 15 s: stopping without them (not checkpointed: they are sent again after the restart)");
        pipelines.forEach((ps) => ps.writers.forEach((w) => w.giveUp()));
        cut.abandon();
        void closeSinks();
      }, 15_000);
      try {
        await serial.run(async () => {
          if (reason === null) await takeCheckpoint(true);
          else await Promise.all(pipelines.flatMap((ps) => ps.writers.map((w) => w.flush().catch(() => {}))));
        });
      } catch (e) {
        reason ??= e as Error;
        noteError(errorMessage(e));
      } finally {
        clearTimeout(giveUp);
      }
      await source?.stop().catch((e) => log.warn({ err: errorMessage(e) }, "source stop failed"));
      await closeSinks();
      store.close();
      ownDlq?.close();
      unlockStateDir(stateDir);
      // spill files: a restart in-process opens them anew, so the old handles must not linger
      for (const ps of pipelines) ps.runner.close?.();
      // The error itself is logged where it ended the runtime ("runtime failed") or thrown to the caller.
      log.info({ checkpoint: checkpoint ? formatLsn(checkpoint.lsn) : null }, reason ? "runtime stopped after an error" : "runtime stopped");
      finish(reason);
    })());

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
    if (e && !stopping) fail(e);
  });
  const backfill = backfills.choose(config, checkpoint, pipelines, log);
  const reselectToast = changeLogTables(config);
  source
    .start({ tables, ...(reselectToast.length ? { reselectToast } : {}), checkpointLsn: checkpoint?.lsn ?? null, resnapshot: opts.resnapshot === true, onTxn, onSchemaChange, onRelations: (rels) => pipelines.forEach((ps) => ps.runner.knowRelations?.(rels)), ...(backfill.length ? { backfill } : {}) })
    .catch((e) => {
      if (!stopping) fail(e);
    });
  log.info({ pipelines: pipelines.map((p) => p.runner.name), checkpoint: checkpoint ? formatLsn(checkpoint.lsn) : null, sinks: openOrder }, "runtime started");

  const view = {
    source,
    sinks,
    openOrder,
    pipelines,
    stateDir,
    checkpointIntervalMs: config.state.checkpoint_interval,
    startedAt: Date.now(),
    checkpoint: () => checkpoint,
    lastLsn: () => lastLsn,
    lastConfirmed: () => lastConfirmed,
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
      await serial.run(() => takeCheckpoint(true));
      return { lsn: checkpoint ? formatLsn(checkpoint.lsn) : undefined, durationMs: Math.round(performance.now() - t0) };
    },
  };
}
