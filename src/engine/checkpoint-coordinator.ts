import type { Logger } from "pino";
import type { Source } from "../source/source.ts";
import type { Lsn, Txn } from "../types.ts";
import { formatLsn } from "../types.ts";
import { checkpointLsn as checkpointLsnGauge, checkpointSeconds } from "../metrics/metrics.ts";
import type { CheckpointStore, Checkpoint } from "./checkpoint-store.ts";
import type { Backfills } from "./backfill.ts";
import type { PipelineState } from "./pipeline-state.ts";
import type { Serial } from "./serial.ts";
import { PendingCut } from "./checkpoint-cut.ts";

export interface CheckpointCoordinatorDeps {
  store: CheckpointStore;
  /** The checkpoint the runtime started from (store.latest()). */
  latest: Checkpoint | null;
  /** Filled by the runtime after this is made: read on each call. */
  pipelines: PipelineState[];
  backfills: Backfills;
  serial: Serial;
  log: Logger;
  /** Null until the runtime has created it. */
  source(): Source | null;
  fail(e: unknown): void;
}

/**
 * Checkpoints and slot confirmation (DESIGN.md "Exactly-once"): cuts taken between whole
 * transactions, stored once every writer holds the cut's LSN, and the slot confirmed up to the
 * lowest of what the writers and the stored checkpoint hold.
 */
export function checkpointCoordinator(d: CheckpointCoordinatorDeps) {
  const { store, pipelines, backfills, log } = d;
  const cut = new PendingCut();
  let checkpoint: Checkpoint | null = d.latest;
  let lastConfirmed: Lsn | null = null;
  let lastLsn: Lsn | null = checkpoint?.lsn ?? null;
  let checkpointDue = false;
  let midTxn = false;

  const confirm = () => {
    cut.progress();
    const source = d.source();
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
    const sourceCut = d.source()?.checkpointCut?.();
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
    } else void stored.catch(d.fail);
  };

  /** After a transaction (or part) went through every pipeline, in the serial queue. */
  const afterTxn = async (txn: Txn) => {
    midTxn = !!txn.part && !txn.part.last;
    if (midTxn) return; // checkpoints only between whole transactions
    if (lastLsn === null || txn.lsn > lastLsn) lastLsn = txn.lsn;
    // The server waits for the slot to reach this position (e.g. a fast shutdown): checkpoint
    // now rather than at the next interval, at most once a second.
    if (txn.awaited && (!checkpoint || (txn.lsn > checkpoint.lsn && Date.now() - checkpoint.createdAt >= 1000))) checkpointDue = true;
    if (checkpointDue) await takeCheckpoint(txn.awaited === true);
  };

  let timer: ReturnType<typeof setInterval> | null = null;
  /** Take a checkpoint every `intervalMs`, at the next boundary when a transaction is in the serial queue. */
  const startTimer = (intervalMs: number) => {
    timer = setInterval(() => {
      checkpointDue = true;
      if (d.serial.idle() && !midTxn) void d.serial.run(() => takeCheckpoint()).catch(d.fail);
    }, intervalMs);
  };

  return {
    confirm,
    takeCheckpoint,
    afterTxn,
    startTimer,
    stopTimer: () => clearInterval(timer ?? undefined),
    /** Stop waiting for the writers (they gave up): the pending cut is not stored. */
    abandonCut: () => cut.abandon(),
    checkpoint: () => checkpoint,
    lastLsn: () => lastLsn,
    lastConfirmed: () => lastConfirmed,
    /** True while a multi-part transaction is half through: no cut, no idle tick. */
    midTxn: () => midTxn,
  };
}
