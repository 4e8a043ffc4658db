import type { Logger } from "pino";
import { join, resolve } from "node:path";
import type { Config } from "../config/schema.ts";
import type { Runtime } from "./runtime-types.ts";
import type { HealthComponent } from "../api/health.ts";
import type { Sink, OutputRecord, OutputTable } from "../sinks/sink.ts";
import type { Source } from "../source/source.ts";
import type { Lsn, Relation, Txn } from "../types.ts";
import type { DeadLetters } from "../dlq/dead-letters.ts";
import { formatLsn } from "../types.ts";
import { sinkFactory } from "../sinks/index.ts";
import { CdcError, errorMessage } from "../errors.ts";
import { checkpointAgeSeconds, checkpointLsn as checkpointLsnGauge, checkpointSeconds, dlqPendingRows, pipelinePaused, snapshotRows } from "../metrics/metrics.ts";
import { DlqStore } from "../dlq/store.ts";
import { groupBySink, replayIntoSink, writeReplay, type ReplayResult } from "../dlq/replay.ts";
import type { StoredDeadLetter } from "../dlq/store.ts";
import { PauseHold } from "./pause-hold.ts";
import { LeaderboardTap, leaderboardSpec } from "./leaderboard-tap.ts";
import { CheckpointStore, type Checkpoint } from "./checkpoint-store.ts";
import { SinkWriter } from "./sink-writer.ts";
import { qualify, targetsOf, type PipelineRunner } from "./pipeline-runner.ts";
import type { PipelineConfig } from "../config/pipeline-schema.ts";
import { createRunner } from "./create-runner.ts";
import { createSource } from "./source-factory.ts";
import { Serial } from "./serial.ts";
import { PendingCut } from "./checkpoint-cut.ts";

export interface RuntimeOptions {
  resnapshot?: boolean;
  /** Tests inject a fake source; serve uses the Postgres one. */
  source?: Source;
  deadLetters?: DeadLetters;
  /** Queue bound per (pipeline, sink) in rows and bytes (default: 4 batches, 64 MiB). */
  maxQueueRows?: number;
  maxQueueBytes?: number;
  /** Idle tick that advances watermarks (ms). */
  tickMs?: number;
  /** Directory the config was read from (transform modules and maps are relative to it). */
  configDir?: string;
  /** Bound of what a paused pipeline holds back (source changes and estimated bytes); default 100 000 changes, 64 MiB. */
  maxPausedChanges?: number;
  maxPausedBytes?: number;
}

const POSITION_SINKS = new Set(["postgres", "sqlite", "mysql"]);

interface PipelineState {
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
  /** Idle-tick outputs already stamped above processedLsn (see the tick below). */
  ticks: { after: Lsn; n: number };
}

/**
 * Output emitted on an idle tick (windows closing, join rows released) has no source transaction
 * of its own. It is stamped processedLsn + n: above everything the sinks hold, so their position
 * fences accept it, and still below the next commit LSN (a WAL record is longer than the few
 * bytes used here). Past MAX_TICKS_PER_LSN the output waits for the next transaction or heartbeat.
 */
const MAX_TICKS_PER_LSN = 16;

/** /health/checkpoint is down once the last checkpoint is older than this many checkpoint intervals. */
const STALE_CHECKPOINTS = 3;

/**
 * The engine: source → per-pipeline operators → per-sink batch writers, a checkpoint
 * coordinator, and slot confirmation (DESIGN.md "Exactly-once"). Transactions are handled
 * one at a time in commit order; checkpoints are taken between transactions after the
 * writers are flushed, so the checkpoint LSN is never ahead of what the sinks hold.
 */
export async function startRuntime(config: Config, log: Logger, opts: RuntimeOptions = {}): Promise<Runtime> {
  const stateDir = resolve(config.state.dir);
  const store = new CheckpointStore(stateDir, config.state.keep_checkpoints);
  const ownDlq = opts.deadLetters ? null : new DlqStore(stateDir);
  const dlq: DeadLetters = opts.deadLetters ?? ownDlq!;
  let checkpoint: Checkpoint | null = store.latest();
  const errors: { at: string; message: string }[] = [];
  const noteError = (message: string) => {
    errors.push({ at: new Date().toISOString(), message });
    if (errors.length > 20) errors.shift();
  };

  /** While a DLQ replay writes to this sink, its deadLetter callback reports here instead of queueing. */
  let replaying: string | null = null;
  let replayRejection: string | null = null;

  // Sinks that some pipeline writes to.
  const sinks = new Map<string, Sink>();
  const openOrder: string[] = [];
  try {
    for (const p of config.pipelines) {
      for (const t of targetsOf(p)) {
        if (sinks.has(t.sink)) continue;
        const sc = config.sinks[t.sink];
        const factory = sinkFactory(sc.type);
        if (!factory) throw new CdcError("sink_unknown", `unknown sink type '${sc.type}'`, { component: `sink:${t.sink}` });
        const sink = factory.create(sc.options);
        const targets = config.pipelines.flatMap((q) => targetsOf(q).filter((x) => x.sink === t.sink).map((x) => ({ pipeline: q.name, options: x.options })));
        await sink.open({
          name: t.sink,
          targets,
          stateDir,
          log: log.child({ component: `sink:${t.sink}` }),
          deadLetter: (record, error, from) => {
            if (replaying === t.sink) {
              replayRejection = error; // a replayed record rejected again: it keeps its queue entry
              return;
            }
            // The pipeline whose batch held it; else (a sink that does not say) one writing to this sink that reads the record's source table.
            const writers = config.pipelines.filter((q) => targetsOf(q).some((x) => x.sink === t.sink));
            const pipeline = from ?? (writers.find((q) => pipelineReads(q, record.source.table)) ?? writers[0])?.name ?? "";
            if (ownDlq) ownDlq.putRecord(pipeline, t.sink, record, error);
            else dlq.put({ pipeline, stage: t.sink, table: record.table.name, row: record.row, error, lsn: record.lsn });
            dlqPendingRows.inc({ pipeline });
            log.warn({ sink: t.sink, pipeline, table: record.table.name, error }, "record sent to the dead-letter queue");
          },
        });
        sinks.set(t.sink, sink);
        openOrder.push(t.sink);
      }
    }
  } catch (e) {
    await Promise.all([...sinks.values()].map((s) => s.close().catch(() => {})));
    store.close();
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

  const queueRows = (batch: number) => opts.maxQueueRows ?? Math.max(4 * batch, 10_000);
  const pipelines: PipelineState[] = [];
  for (const p of config.pipelines) {
    const targets = targetsOf(p);
    const runner = await createRunner(p, config, {
      configDir: opts.configDir ?? process.cwd(),
      reject: (r) => {
        if (replaying === `pipeline:${p.name}`) {
          replayRejection = r.reason; // a replayed row rejected again: it keeps its queue entry
          return;
        }
        if (ownDlq) ownDlq.put({ pipeline: p.name, stage: "operator", table: r.source?.table ?? "", row: r.row, error: r.reason, lsn: currentLsn ?? 0n, ...(r.source ? { source: r.source } : {}) });
        else dlq.put({ pipeline: p.name, stage: "operator", table: r.source?.table ?? "", row: r.row, error: r.reason, lsn: currentLsn ?? 0n });
        dlqPendingRows.inc({ pipeline: p.name });
      },
    });
    // A pipeline's own position can be behind the checkpoint's (paused in config, or not stateful).
    const saved = checkpoint?.state[p.name] as { lsn: string | null; ops: unknown[] } | undefined;
    if (saved && runner.stateful) runner.restore(saved.ops);
    const startLsn = saved ? (saved.lsn === null ? null : BigInt(saved.lsn)) : (checkpoint?.lsn ?? null);
    const writers = targets.map((t) => {
      const o = config.sinks[t.sink].options as { batch_size?: number; batch_delay?: number };
      const batchSize = o.batch_size ?? 5000;
      return new SinkWriter(
        t.sink,
        sinks.get(t.sink)!,
        p.name,
        {
          batchSize,
          batchDelayMs: Math.min(o.batch_delay ?? 100, 100_000),
          maxRows: queueRows(batchSize),
          maxBytes: opts.maxQueueBytes ?? 64 * 1024 * 1024,
          // Transactional sinks store their position cheaply; the others only move it with data.
          positionEveryMs: POSITION_SINKS.has(config.sinks[t.sink].type) ? 1000 : 0,
        },
        log.child({ component: `sink:${t.sink}` }),
        confirm,
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
    if (checkpoint && !saved && writers.every((w) => w.startPosition === null)) {
      // The slot's snapshot was taken before this pipeline existed; there is no backfill of a live slot yet.
      log.warn({ pipeline: p.name, from: p.from }, `pipeline '${p.name}' has no position in its sinks while the engine resumes from a checkpoint: if it is new, rows already in its tables are not copied, only changes from now on (a new slot and state.dir, or --resnapshot after dropping the slot, copies them)`);
    }
    pipelines.push({ runner, writers, renames, paused: p.paused ? "config" : null, hold, inPart: false, processedLsn: startLsn, ticks: { after: -1n, n: 0 } });
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
    // The source's own part of the cut (snapshot progress of the chunks handed over so far), kept once the cut is stored.
    const sourceCut = source?.checkpointCut?.();
    const stored = cut.start(
      () => writers.every((w, i) => w.holds(marks[i])),
      () => {
        checkpoint = store.save(lsn, state);
        sourceCut?.();
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
    // Windows and GROUP BY rebuild their state from the new snapshot: the rows removed before it are not theirs.
    if (ps.runner.stateful && txn.cleanup) return;
    const touches = txn.changes.some((c) => ps.runner.reads(c.table));
    let records = touches ? await ps.runner.process(txn) : [];
    const complete = !txn.part || txn.part.last;
    ps.inPart = !complete;
    if (txn.part) {
      const off = txn.part.index === 0 ? 0 : (partOffset.get(ps.runner.name) ?? 0);
      if (off) records = records.map((r) => ({ ...r, index: r.index + off }));
      partOffset.set(ps.runner.name, off + records.length);
    } else if (txn.snapshot) {
      // Every snapshot chunk has the same LSN: indexes keep counting across chunks, so (lsn, index)
      // stays one record's identity (HTTP Idempotency-Key, BigQuery insertId).
      const off = snapshotOffset.get(ps.runner.name) ?? 0;
      if (off) records = records.map((r) => ({ ...r, index: r.index + off }));
      snapshotOffset.set(ps.runner.name, off + records.length);
    }
    await route(ps, records, txn.lsn, txn.snapshot === true, complete);
    if (complete && (ps.processedLsn === null || txn.lsn > ps.processedLsn)) ps.processedLsn = txn.lsn;
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
      for (const ps of pipelines) {
        if (ps.paused === "config") continue;
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
  const tickMs = opts.tickMs ?? 1000;
  let lastDlqRefresh = Date.now();
  const tick = setInterval(() => {
    checkpointAgeSeconds.set(checkpoint ? (Date.now() - checkpoint.createdAt) / 1000 : 0);
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

  const pipelineNamed = (name: string): PipelineState => {
    const ps = pipelines.find((x) => x.runner.name === name);
    if (!ps) throw new CdcError("unknown_pipeline", `unknown pipeline '${name}'`);
    return ps;
  };

  /** Hold a pipeline back from the next transaction boundary (see PauseHold). */
  const pause = async (name: string) => {
    const ps = pipelineNamed(name);
    await serial.run(async () => {
      if (ps.paused) throw new CdcError("already_paused", `pipeline '${name}' is already paused${ps.paused === "config" ? " (paused: true in the config)" : ""}`);
      ps.paused = "admin";
      pipelinePaused.set({ pipeline: name }, 1);
      log.info({ pipeline: name, lsn: ps.processedLsn !== null ? formatLsn(ps.processedLsn) : null }, "pipeline paused");
    });
  };

  /** Process what the pipeline held back, in order, then let it take transactions again. */
  const resume = async (name: string) => {
    const ps = pipelineNamed(name);
    await serial.run(async () => {
      if (ps.paused === "config") throw new CdcError("conflict", `pipeline '${name}' is paused in the config: set paused: false and restart (it catches up from the slot)`);
      if (!ps.paused) throw new CdcError("not_paused", `pipeline '${name}' is not paused`);
      const held = ps.hold.drain();
      for (const txn of held) await processTxn(ps, txn);
      ps.paused = null;
      pipelinePaused.set({ pipeline: name }, 0);
      ps.hold.release();
      log.info({ pipeline: name, caughtUp: held.length }, "pipeline resumed");
    });
  };

  /**
   * DLQ replay through the engine's own sinks, between transactions: every writer of the sink
   * is flushed first, so postgres and sqlite (which rewrite the position they hold) race with
   * no batch of the engine. A record the sink rejects again stays in the queue (not a new row).
   */
  const replayDlq = async (pipeline?: string): Promise<{ replayed: number; failed: ReplayResult["failed"]; skipped: ReplayResult["skipped"] }> => {
    if (pipeline !== undefined) pipelineNamed(pipeline);
    if (!ownDlq) throw new CdcError("conflict", "this runtime's dead letters are not kept in the DLQ store");
    return serial.run(async () => {
      const result: ReplayResult = { replayed: 0, failed: [], skipped: [] };
      const all = ownDlq.list({ pipeline });
      for (const e of all) if (e.stage === "operator") await replayThroughPipeline(e, result);
      const bySink = groupBySink(config, all.filter((e) => e.stage !== "operator"), result);
      for (const [name, entries] of bySink) {
        const sink = sinks.get(name);
        if (!sink) {
          for (const e of entries) result.skipped.push({ id: e.id, reason: `no pipeline writes to sink '${name}' now` });
          continue;
        }
        const writers = pipelines.flatMap((ps) => ps.writers.filter((w) => w.sinkName === name));
        const failing = writers.map((w) => w.health()).find((h) => h);
        if (failing) {
          for (const e of entries) result.failed.push({ id: e.id, error: `sink ${name} is failing (${failing.reason}); replay once it is back` });
          continue;
        }
        await Promise.all(writers.map((w) => w.flush()));
        replaying = name;
        try {
          await replayIntoSink(sink, config.sinks[name].type, entries, ownDlq, result, {
            take: () => {
              const r = replayRejection;
              replayRejection = null;
              return r;
            },
          });
        } finally {
          replaying = null;
          replayRejection = null;
        }
      }
      refreshDlqPending();
      log.info({ pipeline, replayed: result.replayed, failed: result.failed.length, skipped: result.skipped.length }, "dead letters replayed");
      return result;
    });
  };

  /**
   * A row an operator rejected (transform, validate) goes through its pipeline again, as the
   * source change it was (after a fixed rule and a restart, it passes now), and the output is
   * written out of band to every sink of the pipeline. Stateful pipelines (windows, joins) are
   * skipped: feeding their state a row out of commit order would not survive a restart.
   */
  async function replayThroughPipeline(e: StoredDeadLetter, result: ReplayResult): Promise<void> {
    const ps = pipelines.find((x) => x.runner.name === e.pipeline);
    if (!ps) return void result.skipped.push({ id: e.id, reason: `pipeline '${e.pipeline}' is not in this config` });
    if (!e.source) return void result.skipped.push({ id: e.id, reason: "no source change kept (queued by an older version)" });
    const pc = config.pipelines.find((x) => x.name === e.pipeline)!;
    if (pc.window || pc.join?.length || pc.aggregate || pc.group_by) return void result.skipped.push({ id: e.id, reason: "the pipeline keeps state (windows or joins): a replayed row would change it out of commit order" });
    if (ps.paused) return void result.failed.push({ id: e.id, error: `pipeline '${e.pipeline}' is paused; replay after resume` });
    const failing = ps.writers.map((w) => w.health()).find((h) => h);
    if (failing) return void result.failed.push({ id: e.id, error: `a sink of '${e.pipeline}' is failing (${failing.reason}); replay once it is back` });
    replaying = `pipeline:${e.pipeline}`;
    replayRejection = null;
    try {
      const records = await ps.runner.process({ lsn: e.lsn, endLsn: e.lsn, xid: 0, commitTime: 0n, changes: [e.source] });
      if (replayRejection !== null) return void result.failed.push({ id: e.id, error: replayRejection });
      await Promise.all(ps.writers.map((w) => w.flush()));
      for (const [i, w] of ps.writers.entries()) {
        const recs = ps.renames[i] ? ps.renames[i]!(records) : records;
        if (recs.length) await writeReplay(sinks.get(w.sinkName)!, config.sinks[w.sinkName].type, e.pipeline, recs);
      }
      ownDlq!.remove([e.id]);
      result.replayed++;
    } catch (err) {
      result.failed.push({ id: e.id, error: errorMessage(err) });
    } finally {
      replaying = null;
      replayRejection = null;
    }
  }

  function fail(e: unknown) {
    const err = e instanceof Error ? e : new Error(String(e));
    noteError(err.message);
    log.error({ err: err.message }, "runtime failed");
    void shutdown(err);
  }

  let stopped: Promise<void> | null = null;
  const shutdown = (reason: Error | null): Promise<void> =>
    (stopped ??= (async () => {
      stopping = true;
      for (const ps of pipelines) ps.hold.release(); // a source held by a full pause hold lets go
      clearInterval(checkpointTimer);
      clearInterval(tick);
      // The source stays connected until the final checkpoint is confirmed to it (onTxn ignores
      // what arrives meanwhile: it was never confirmed, so the slot sends it again after a restart).
      // A sink that stays down must not hold the stop forever.
      const giveUp = setTimeout(() => {
        pipelines.forEach((ps) => ps.writers.forEach((w) => w.giveUp()));
        cut.abandon();
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
      await Promise.all([...sinks.values()].map((s) => s.close().catch(() => {})));
      store.close();
      ownDlq?.close();
      // spill files: a restart in-process opens them anew, so the old handles must not linger
      for (const ps of pipelines) ps.runner.close?.();
      log.info({ checkpoint: checkpoint ? formatLsn(checkpoint.lsn) : null }, reason ? "runtime stopped after an error" : "runtime stopped");
      finish(reason);
    })());

  try {
    source = opts.source ?? (await createSource(config.source, { stateDir, log: log.child({ component: "source" }) }));
  } catch (e) {
    await shutdown(e as Error);
    throw e;
  }
  const fromTables = config.pipelines.flatMap((p) => (Array.isArray(p.from) ? p.from : [p.from]).map((t) => (t.includes(".") ? t : `public.${t}`)));
  // Lookup-join tables are captured too: their rows are the join state.
  const tables = [...new Set([...fromTables, ...pipelines.flatMap((ps) => ps.runner.extraTables ?? [])])];
  source.done.then((e) => {
    if (e && !stopping) fail(e);
  });
  source
    .start({ tables, checkpointLsn: checkpoint?.lsn ?? null, resnapshot: opts.resnapshot === true, onTxn, onSchemaChange })
    .catch((e) => {
      if (!stopping) fail(e);
    });
  log.info({ pipelines: pipelines.map((p) => p.runner.name), checkpoint: checkpoint ? formatLsn(checkpoint.lsn) : null, sinks: openOrder }, "runtime started");

  const src = source;
  const startedAt = Date.now();
  /** Down once the last checkpoint is older than STALE_CHECKPOINTS intervals (none yet: since start, once there is something to checkpoint). */
  const checkpointHealth = () => {
    const interval = config.state.checkpoint_interval;
    const limitMs = STALE_CHECKPOINTS * interval;
    // Since this start at most: a checkpoint from before a long stop is not a stuck engine.
    const ageMs = Date.now() - Math.max(checkpoint?.createdAt ?? 0, startedAt);
    const details = { lsn: checkpoint ? formatLsn(checkpoint.lsn) : null, ageSeconds: checkpoint ? Math.round(ageMs / 1000) : null, intervalSeconds: interval / 1000, file: join(stateDir, "checkpoints.db") };
    if (ageMs > limitMs && (checkpoint !== null || lastLsn !== null)) {
      const what = checkpoint ? `last checkpoint ${Math.round(ageMs / 1000)} s ago` : `no checkpoint in ${Math.round(ageMs / 1000)} s`;
      return { status: "down" as const, reason: `${what}, more than ${STALE_CHECKPOINTS}× the ${interval / 1000} s interval (engine stuck behind a sink or a held source?)`, details };
    }
    return { status: "up" as const, details };
  };
  const components = (): HealthComponent[] => [
    { name: "source", health: () => src.health() },
    ...openOrder.map((name) => ({
      name: `sink:${name}`,
      health: async () => {
        for (const ps of pipelines) for (const w of ps.writers) if (w.sinkName === name) {
          const h = w.health();
          if (h) return h;
        }
        return sinks.get(name)!.health();
      },
    })),
    { name: "checkpoint", health: checkpointHealth },
    ...pipelines.map((ps) => ({
      name: `pipeline:${ps.runner.name}`,
      health: () => {
        const failing = ps.writers.map((w) => w.health()).find((h) => h);
        if (failing) return { status: "degraded" as const, reason: `sink ${failing.reason}` };
        const details = { paused: ps.paused !== null, ...(ps.paused ? { pausedBy: ps.paused, heldTransactions: ps.hold.length } : {}), lsn: ps.processedLsn !== null ? formatLsn(ps.processedLsn) : null };
        if (ps.paused === "admin" && ps.hold.full()) return { status: "degraded" as const, reason: "paused and its hold is full: the source is held for every pipeline until it is resumed", details };
        return { status: "up" as const, details };
      },
    })),
  ];

  return {
    components,
    status: () => ({
      source: src.stats ? jsonSafe(src.stats()) : null,
      transactions: txnCount,
      confirmedLsn: lastConfirmed !== null ? formatLsn(lastConfirmed) : null,
      checkpoint: checkpoint ? { lsn: formatLsn(checkpoint.lsn), at: new Date(checkpoint.createdAt).toISOString() } : null,
      pipelines: pipelines.map((ps) => ({
        name: ps.runner.name,
        paused: ps.paused !== null,
        ...(ps.paused ? { pausedBy: ps.paused, held: { transactions: ps.hold.length, changes: ps.hold.changes, bytes: ps.hold.bytes } } : {}),
        lsn: ps.processedLsn !== null ? formatLsn(ps.processedLsn) : null,
        sinks: ps.writers.map((w) => ({ sink: w.sinkName, position: w.durable !== null ? formatLsn(w.durable) : null, queued: w.queued(), written: w.written, error: w.lastError })),
      })),
      errors: [...errors],
    }),
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

function pipelineReads(p: PipelineConfig, table: string): boolean {
  return (Array.isArray(p.from) ? p.from : [p.from]).map(qualify).some((f) => f === table || (f.endsWith(".*") && table.startsWith(f.slice(0, -1))));
}

function jsonSafe(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? formatLsn(x) : x)));
}
