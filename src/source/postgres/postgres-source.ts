/**
 * The Postgres source: publication, slot safety, initial snapshot, then the pgoutput stream
 * with reconnects, heartbeats, spilling and lag stats. See source.ts for the contract.
 */
import { join } from "node:path";
import type { Logger } from "pino";
import type { SourceConfig } from "../../config/schema.ts";
import { redactUrl, type Pg } from "../../db/postgres-client.ts";
import { CdcError, errorMessage } from "../../errors.ts";
import type { Health } from "../../sinks/sink.ts";
import type { Change, Lsn, Relation } from "../../types.ts";
import type { Source, SourceStartOptions, SourceStats } from "../source.ts";
import { loadRelations, loadTypes, resolveTables, skipColumnless, warnReplicaIdentity } from "./catalog.ts";
import { checkSource, inspectSource } from "./check.ts";
import { ReplicationSession, type StartOptions } from "./replication.ts";
import { dropBeforeRead } from "./added-tables.ts";
import { binaryUsable } from "./binary-usable.ts";
import { highestProtocol, openReplicationPg, openSourcePg } from "./connections.ts";
import { PublicationWatch } from "./publication-watch.ts";
import { setPublications } from "./publications.ts";
import { lookUpSlot } from "./slot-lookup.ts";
import { SlotMonitor } from "./slot-monitor.ts";
import { recreateSlot } from "./slot-recreate.ts";
import { mustRecreateSlot } from "./slot-safety.ts";
import { dropReadAgain } from "./resumed-reads.ts";
import { readBeforeStream } from "./reads-before-stream.ts";
import { SnapshotSaves } from "./snapshot-saves.ts";
import { SnapshotState, type TableProgress } from "./snapshot-state.ts";
import { cleanSpill } from "./spill-dir.ts";
import { diagnoseStreamFailure } from "./stream-failure.ts";
import { reselectToast } from "./toast-reselect.ts";
import { tableMatcher } from "../../config/table-refs.ts";
import { StreamReader } from "./stream-reader.ts";
import { TypeDecoders } from "./type-decoders.ts";
import { loadMissingValues } from "./missing-values.ts";

export interface SourceDeps {
  stateDir: string;
  log: Logger;
}

export function createPostgresSource(config: SourceConfig, deps: SourceDeps): Source {
  return new PostgresSource(config, deps);
}

class PostgresSource implements Source {
  private log: Logger;
  private sql: Pg | null = null;
  private repl: Pg | null = null;
  private session: ReplicationSession | null = null;
  private state: SnapshotState | null = null;
  private stopped = false;
  private confirmed = 0n;
  private lastStatusAt = 0;
  private statusTimer: ReturnType<typeof setTimeout> | null = null;
  private monitor: SlotMonitor | null = null;
  private healthNow: Health = { status: "down", reason: "not started" };
  private resolveDone!: (e: Error | null) => void;
  private reader: StreamReader | null = null;
  private snapshotProgress = new Map<string, TableProgress>();
  /** The server answered once (checkSource passed) in this start. */
  private reached = false;
  private saves: SnapshotSaves;
  readonly done: Promise<Error | null>;

  constructor(
    private config: SourceConfig,
    private deps: SourceDeps,
  ) {
    this.log = deps.log.bindings().component ? deps.log : deps.log.child({ component: "source" });
    this.done = new Promise((r) => (this.resolveDone = r));
    this.saves = new SnapshotSaves(config.slot, () => this.state);
  }

  async start(opts: SourceStartOptions): Promise<void> {
    try {
      await this.prepare(opts);
    } catch (err) {
      const reached = this.reached;
      await this.shutdown();
      if (this.stopped) return; // stop() during start-up (e.g. mid-snapshot): not a failure
      // A bare driver error ("connect ECONNREFUSED 127.0.0.1:1", "role ... does not exist") named
      // neither the source nor the server: say both.
      // "source_unreachable": not even the first connection was made (host, port, role, password;
      // the supervisor does not retry that on the process' first start: a config that never worked exits).
      const e = err instanceof CdcError ? err : new CdcError(reached ? "source_connect" : "source_unreachable", `cannot start streaming from ${redactUrl(this.config.url)}: ${errorMessage(err)}`, { cause: err, component: "source" });
      this.healthNow = { status: "down", reason: errorMessage(e) };
      this.resolveDone(e);
      throw e;
    }
    void this.streamLoop(opts);
  }

  private async prepare(opts: SourceStartOptions): Promise<void> {
    const c = this.config;
    await checkSource(c);
    this.reached = true;
    const info = await inspectSource(c);
    const maxProto = highestProtocol(info.version);
    const proto = c.protocol_version ?? maxProto;
    if (proto > maxProto) {
      throw new CdcError("source_protocol", `source.protocol_version ${proto} needs a newer server: PostgreSQL ${info.versionText} supports pgoutput up to ${maxProto}`, { kind: "usage", component: "source" });
    }
    if (c.two_phase && (info.version < 150000 || proto < 3)) {
      throw new CdcError("source_two_phase", `source.two_phase needs PostgreSQL 15 or later and protocol_version 3 or more (server ${info.versionText}, protocol ${proto})`, { kind: "usage", component: "source" });
    }
    const sql = (this.sql = openSourcePg(c));
    const named = await resolveTables(sql, opts.tables, info.version >= 130000);
    const relations = await loadRelations(sql, named);
    const tables = skipColumnless(named, relations, this.log);
    opts.onRelations?.([...relations.values()]);
    const insertsOnly = warnReplicaIdentity(relations, this.log);
    const types = new TypeDecoders(await loadTypes(sql));
    const binary = c.binary && binaryUsable(relations, types, info.version, this.log);
    const spillDir = join(this.deps.stateDir, "spill");
    cleanSpill(spillDir);
    const state = (this.state = new SnapshotState(this.deps.stateDir));

    // Slot safety: decide whether we can stream on, must create the slot, or must refuse.
    const { slot, exists: slotExists } = await lookUpSlot(sql, c.slot, opts.checkpointLsn !== null);
    const recreate = mustRecreateSlot({
      slotName: c.slot,
      slot,
      checkpointLsn: opts.checkpointLsn,
      resnapshot: opts.resnapshot,
      invalidated: slotExists && !slot,
      ours: state.slot(c.slot)?.consistentPoint ?? null,
      snapshot: c.snapshot,
      log: this.log,
    });

    const { publications, second } = await setPublications({ sql, config: c, log: this.log, tables, insertsOnly, recreate, version: info.version, marked: state.insertsPublication(c.slot) });

    const repl = (this.repl = openReplicationPg(c));
    let snapshotName: string | null = null;
    let consistentPoint: Lsn;
    let removals: Change[] = [];
    if (recreate) {
      const onWait = (reason: string) => (this.healthNow = { status: "down", reason });
      ({ snapshotName, consistentPoint, removals } = await recreateSlot({ config: c, sql, repl, serverVersion: info.version, slot, slotExists, checkpointLsn: opts.checkpointLsn, resnapshot: opts.resnapshot, sinksHoldData: opts.sinksHoldData === true, relations, types, state, second, log: this.log, onWait }));
    } else {
      const known = state.slot(c.slot);
      consistentPoint = known?.consistentPoint ?? slot!.confirmedFlushLsn!;
      if (!known) state.resetSlot(c.slot, consistentPoint, false);
    }
    // Never report less than the slot already has (a snapshot's position is consistent point - 1).
    this.confirmed = recreate ? consistentPoint : (slot?.confirmedFlushLsn ?? consistentPoint);
    state.dropPassedReads(c.slot, this.confirmed);
    const onSnapshot = () => (this.healthNow = { status: "up", reason: "snapshot" });
    const slotMade = { recreate, snapshotName, consistentPoint, removals };
    const finished = await readBeforeStream({ config: c, start: opts, sql, serverVersion: info.version, tables, relations, types, state, log: this.log, ...slotMade, saves: this.saves, progress: this.snapshotProgress, stopped: () => this.stopped, onSnapshot });
    if (!finished) return; // stopped during the reads
    const knownById = new Map<number, Relation>();
    for (const r of relations.values()) knownById.set(r.id, r);
    this.reader = new StreamReader({
      types,
      known: knownById,
      spillDir,
      memoryBudget: c.memory_budget,
      heartbeatMs: c.heartbeat_interval,
      log: this.log,
      startLsn: this.confirmed,
      onTxn: dropBeforeRead(await dropReadAgain(opts.onTxn, state.resumedReads(c.slot), sql, relations, this.log), state.addedSince(c.slot)),
      onSchemaChange: opts.onSchemaChange,
      refreshTypes: async () => types.load(await loadTypes(sql)),
      formatTypes: async (cols) => {
        const rows = await sql`select format_type(o, m) as t from unnest(${cols.map((c) => c.oid)}::oid[], ${cols.map((c) => c.mod)}::int4[]) with ordinality as u(o, m, i) order by i`;
        return rows.map((r) => String(r.t));
      },
      missingValues: (relId, names) => loadMissingValues(sql, relId, names),
      binary: () => this.startOptions?.binary === true,
      reselect: (changes) => reselectToast(sql, changes, types, this.log),
      reselectAll: tableMatcher(opts.reselectToast ?? []),
    });
    this.monitor = new SlotMonitor({
      sql: () => this.sql,
      slot: c.slot,
      heartbeatMs: c.heartbeat_interval,
      serverVersion: info.version,
      warnRatio: c.slot_lag_warn_ratio,
      lagSeconds: () => this.reader?.lagSeconds() ?? 0,
      log: this.log,
      publication: new PublicationWatch({ publications, tables, log: this.log, insertsOnly: publications[1] }),
    });
    this.monitor.start();
    this.startOptions = { slot: c.slot, publications, protoVersion: proto, messages: info.version >= 140000, streaming: proto >= 2, binary, twoPhase: c.two_phase };
  }

  private startOptions: StartOptions | null = null;

  private async streamLoop(_opts: SourceStartOptions): Promise<void> {
    let attempt = 0;
    while (!this.stopped && this.startOptions) {
      try {
        this.repl ??= openReplicationPg(this.config);
        this.session = await ReplicationSession.start(this.repl, this.startOptions, () => this.confirmed);
        this.healthNow = { status: "up" };
        if (attempt) this.log.info({ slot: this.config.slot }, "replication stream reconnected");
        attempt = 0;
        await this.reader!.consume(this.session);
        if (this.stopped) break;
        throw this.session.failure ?? new Error("replication stream ended");
      } catch (e) {
        this.reader?.reset();
        if (this.stopped) break;
        if (e instanceof CdcError && e.code === "source_binary_unsupported" && this.startOptions.binary) {
          // Nothing of the transaction with that table was handed over: the server sends it again, as text.
          this.log.warn({ err: e.message }, `source.binary: ${e.message}; streaming in text format from here on (same values)`);
          this.startOptions = { ...this.startOptions, binary: false };
          await this.session?.close().catch(() => {});
          this.session = null;
          await this.repl?.end({ timeout: 1 }).catch(() => {});
          this.repl = null;
          continue;
        }
        const fatal = this.reader?.engineError ?? (await diagnoseStreamFailure(e, this.sql, this.config.slot, this.startOptions?.publications ?? [this.config.publication]));
        if (fatal) {
          // Not logged here: the runtime logs the failure it ends with ("runtime failed"), once.
          this.healthNow = { status: "down", reason: errorMessage(fatal) };
          await this.shutdown();
          this.resolveDone(fatal);
          return;
        }
        attempt++;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
        this.healthNow = { status: "degraded", reason: `reconnecting: ${errorMessage(e)}` };
        this.log.warn({ err: errorMessage(e), attempt, delayMs: delay }, `replication stream lost (${redactUrl(this.config.url)}); reconnecting`);
        await this.session?.close().catch(() => {});
        this.session = null;
        await this.repl?.end({ timeout: 1 }).catch(() => {});
        this.repl = null;
        await Bun.sleep(delay);
      }
    }
    this.resolveDone(null);
  }

  /** The engine cuts a checkpoint: snapshot progress saved once it is stored (snapshot-saves.ts). */
  checkpointCut(): () => void {
    return this.saves.cut();
  }

  confirm(lsn: Lsn): void {
    this.saves.confirmed(lsn);
    // An idle-progress LSN stands for the server's sent position just after it (see keepaliveProgress in idle-progress.ts).
    let flush = this.reader ? this.reader.flushPositionFor(lsn) : lsn;
    // Never where the server would send a COMMIT PREPARED without its PREPARE (prepared-holds.ts).
    if (this.reader) flush = this.reader.holds.cap(flush);
    if (flush <= this.confirmed) return;
    this.confirmed = flush;
    // Throttled: at most one status update per second on top of the 10 s ones.
    if (this.statusTimer) return;
    const wait = Math.max(0, 1000 - (Date.now() - this.lastStatusAt));
    this.statusTimer = setTimeout(() => {
      this.statusTimer = null;
      this.lastStatusAt = Date.now();
      this.session?.sendStatus(false);
    }, wait);
  }

  health(): Health {
    return this.healthNow;
  }

  stats(): SourceStats {
    const s = this.monitor?.info ?? null;
    const snap = [...this.snapshotProgress.values()].map((p) => ({ table: p.table, rowsDone: p.rowsDone, rowsTotal: p.rowsTotal, done: p.done }));
    return {
      receivedLsn: this.reader?.lastLsn ?? null,
      confirmedLsn: this.confirmed ? this.confirmed : null,
      lagBytes: s?.lagBytes ?? 0,
      lagSeconds: this.reader?.lagSeconds() ?? 0,
      slotRetainedBytes: s?.retainedBytes ?? 0,
      ...(snap.length ? { snapshot: snap } : {}),
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.reader?.halt();
    this.healthNow = { status: "down", reason: "stopped" };
    await this.shutdown();
    this.resolveDone(null);
  }

  private async shutdown(): Promise<void> {
    this.monitor?.stop();
    if (this.statusTimer) clearTimeout(this.statusTimer);
    this.statusTimer = null;
    await this.session?.close().catch(() => {});
    this.session = null;
    this.reader?.reset();
    await this.repl?.end({ timeout: 2 }).catch(() => {});
    this.repl = null;
    await this.sql?.end({ timeout: 2 }).catch(() => {});
    this.sql = null;
    this.state?.close();
    this.state = null;
  }
}
