/**
 * The Postgres source: publication, slot safety, initial snapshot, then the pgoutput stream
 * with reconnects, heartbeats, spilling and lag stats. See source.ts for the contract.
 */
import { mkdirSync, readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { SourceConfig } from "../../config/schema.ts";
import { openPg, redactUrl, type Pg } from "../../db/postgres-client.ts";
import { CdcError, errorMessage } from "../../errors.ts";
import type { Health } from "../../sinks/sink.ts";
import { formatLsn, type Change, type Lsn, type Relation } from "../../types.ts";
import type { Source, SourceStartOptions, SourceStats } from "../source.ts";
import { ensurePublication, loadRelations, loadTypes, resolveTables, warnReplicaIdentity } from "./catalog.ts";
import { checkSource, inspectSource } from "./check.ts";
import { ReplicationSession, type StartOptions } from "./replication.ts";
import { addedTables, dropBeforeRead, exportForAdded } from "./added-tables.ts";
import { readBackfill } from "./backfill-read.ts";
import { PublicationWatch } from "./publication-watch.ts";
import { createSlot, dropSlot, getSlot } from "./slot.ts";
import { decodeRemovals, encodeRemovals, GapChanges, gapRemovals, GapWatch, handOver } from "./gap-deletes.ts";
import { SlotMonitor } from "./slot-monitor.ts";
import { mustRecreateSlot } from "./slot-safety.ts";
import { runSnapshot } from "./snapshot.ts";
import { dropReadAgain, resumedTables, saveResumedReads } from "./resumed-reads.ts";
import { SnapshotState, type TableProgress } from "./snapshot-state.ts";
import { reselectToast } from "./toast-reselect.ts";
import { tableMatcher } from "../../config/table-refs.ts";
import { publicationProblem } from "./publication-rights.ts";
import { createInsertsPublication, insertsPublication, insertsPublicationUsable, setInsertsPublication } from "./inserts-publication.ts";
import { StreamReader } from "./stream-reader.ts";
import { TypeDecoders } from "./type-decoders.ts";

export interface SourceDeps {
  stateDir: string;
  log: Logger;
}

/** Session parameters so text output is the same on every server: ISO dates, UTC. */
const SESSION = { application_name: "cdc-engine", DateStyle: "ISO, YMD", TimeZone: "UTC", IntervalStyle: "postgres", extra_float_digits: "3" };

export function highestProtocol(serverVersion: number): number {
  return serverVersion >= 160000 ? 4 : serverVersion >= 150000 ? 3 : serverVersion >= 140000 ? 2 : 1;
}

export function openSourcePg(config: SourceConfig, max = 3): Pg {
  return openPg(config.url, { sslmode: config.sslmode, tls: config.tls, max, extra: { connection: SESSION } });
}

export function openReplicationPg(config: SourceConfig): Pg {
  return openPg(config.url, {
    sslmode: config.sslmode,
    tls: config.tls,
    max: 1,
    extra: { connection: { ...SESSION, replication: "database" }, fetch_types: false, idle_timeout: null, max_lifetime: null, prepare: false },
  });
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
  /** The slot's removals (gap-deletes.ts) went to the engine; saved until a cut after them is stored. */
  private removalsHanded = false;
  /** The server answered once (checkSource passed) in this start. */
  private reached = false;
  /** Snapshot progress the engine has taken but not yet made durable (see checkpointCut()). */
  private snapshotUnsaved = new Map<string, TableProgress>();
  /** What was saved last per table (saved progress never goes back). */
  private snapshotSaved = new Map<string, TableProgress>();
  /**
   * A confirmed position above this proves that every snapshot chunk is durable: only a
   * checkpoint after a streamed transaction (which comes after the snapshot) gets there.
   */
  private snapshotBarrier: Lsn | null = null;
  readonly done: Promise<Error | null>;

  constructor(
    private config: SourceConfig,
    private deps: SourceDeps,
  ) {
    this.log = deps.log.bindings().component ? deps.log : deps.log.child({ component: "source" });
    this.done = new Promise((r) => (this.resolveDone = r));
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
    const tables = await resolveTables(sql, opts.tables, info.version >= 130000);
    const relations = await loadRelations(sql, tables);
    opts.onRelations?.([...relations.values()]);
    const insertsOnly = warnReplicaIdentity(relations, this.log);
    const types = new TypeDecoders(await loadTypes(sql));
    const binary = c.binary && binaryUsable(relations, types, info.version, this.log);
    const spillDir = join(this.deps.stateDir, "spill");
    cleanSpill(spillDir);
    const state = (this.state = new SnapshotState(this.deps.stateDir));

    // Slot safety: decide whether we can stream on, must create the slot, or must refuse.
    let slot = await getSlot(sql, c.slot);
    const [{ db }] = await sql`select current_database()::text as db`;
    if (slot && (slot.plugin !== "pgoutput" || slot.database !== db)) {
      throw new CdcError("slot_foreign", `replication slot ${c.slot} exists but is not a pgoutput slot of database ${db} (plugin ${slot.plugin}, database ${slot.database}); configure another source.slot`, { kind: "usage", component: "source" });
    }
    if (slot?.active) {
      throw new CdcError("slot_active", `replication slot ${c.slot} is active for PID ${slot.activePid}: another cdc-engine (or consumer) is streaming from it; stop it or configure a different source.slot`, { component: "source" });
    }
    const slotExists = slot !== null;
    if (slot?.walStatus === "lost") slot = null; // invalidated: WAL is gone, same as missing
    const recreate = mustRecreateSlot({
      slotName: c.slot,
      slot,
      checkpointLsn: opts.checkpointLsn,
      resnapshot: opts.resnapshot,
      ours: state.slot(c.slot)?.consistentPoint ?? null,
      snapshot: c.snapshot,
      log: this.log,
    });

    const { publications, second } = await this.setPublications(sql, tables, insertsOnly, recreate, info.version, state.insertsPublication(c.slot));

    const repl = (this.repl = openReplicationPg(c));
    let snapshotName: string | null = null;
    let consistentPoint: Lsn;
    let removals: Change[] = [];
    let generation: Lsn | undefined;
    // Early-crash re-snapshot: the old slot's removals (gap-deletes.ts), those of the removal state
    // of a crash before, and a temporary slot for what commits while the slot is made again.
    const gap = new GapChanges();
    let prior: Change[] = [];
    let watch: GapWatch | null = null;
    if (recreate) {
      // --resnapshot after lost changes reads the tables again even with `snapshot: never`.
      const snap = c.snapshot === "initial" || (opts.resnapshot && opts.checkpointLsn !== null);
      // A slot recreated without a checkpoint: made by a start that ended before its first one,
      // or left by a state dir that was lost (deleted, a new volume). What was copied through it
      // may since have been deleted at the source, and the new snapshot cannot show it (gap-deletes.ts).
      if (slot && snap && opts.checkpointLsn === null) {
        // The same initial snapshot taken again: its rows keep their names (record-identity.ts).
        const earlierSnapshot = state.slot(c.slot);
        if (earlierSnapshot?.snapshotWanted) generation = earlierSnapshot.generation;
        const earlier = state.removals(c.slot);
        prior = earlier ? decodeRemovals(earlier, relations) : [];
        // Made before the old slot is read: it holds what commits until the new slot starts.
        watch = await GapWatch.open(() => openSourcePg(c, 1), this.log);
        removals = [...prior, ...(await gapRemovals(sql, c.slot, c.publication, relations, types, this.log, gap))];
        // Saved before the slot (which holds them) is dropped.
        state.setRemovals(c.slot, removals.length ? encodeRemovals(removals) : null);
      }
      if (snap && opts.checkpointLsn !== null) {
        // --resnapshot after lost changes: the deletes among them never come, and the snapshot
        // cannot show a row that is gone, so a mirror kept such rows for good (QA: a publication
        // dropped while streaming, then slot drop + --resnapshot left a deleted row). The copies
        // are cleared first, in the same hand-over as an early crash's removals.
        removals = [...relations.values()].map((r) => ({ op: "truncate" as const, table: r.table, relation: r, truncate: { cascade: false, restartIdentity: false } }));
        this.log.warn({ slot: c.slot, tables: removals.map((r) => r.table) }, "--resnapshot after lost changes: the sinks' copies of the captured tables are cleared before they are read again (rows deleted in the lost changes would stay otherwise); they fill up as the snapshot goes on");
      }
      if (slotExists) await dropSlot(sql, c.slot);
      const created = await createSlot(repl, c.slot, { serverVersion: info.version, failover: c.failover, exportSnapshot: snap, twoPhase: c.two_phase, watch: { sql, log: this.log, onWait: (reason) => (this.healthNow = { status: "down", reason }) } }).catch(async (e) => {
        await watch?.close();
        throw e;
      });
      if (watch) {
        const before = gap.messages;
        await watch
          .read(gap, created.consistentPoint, c.publication, relations, types)
          .catch((e) => this.log.warn({ err: (e as Error).message }, "cannot read the temporary slot that watched the re-creation; a delete committed meanwhile may stay in the sinks"))
          .finally(() => watch!.close());
        removals = [...prior, ...handOver(relations, gap)];
        state.setRemovals(c.slot, removals.length ? encodeRemovals(removals) : null);
        this.log.info({ messages: gap.messages - before, changes: removals.length }, "read what committed while the slot was made again");
      }
      this.log.info({ slot: c.slot, consistentPoint: formatLsn(created.consistentPoint) }, `created replication slot ${c.slot}`);
      state.resetSlot(c.slot, created.consistentPoint, snap, generation);
      if (second) state.markInsertsPublication(c.slot, second);
      snapshotName = created.snapshotName;
      consistentPoint = created.consistentPoint;
    } else {
      const known = state.slot(c.slot);
      consistentPoint = known?.consistentPoint ?? slot!.confirmedFlushLsn!;
      if (!known) state.resetSlot(c.slot, consistentPoint, false);
    }
    // Never report less than the slot already has (a snapshot's position is consistent point - 1).
    this.confirmed = recreate ? consistentPoint : (slot?.confirmedFlushLsn ?? consistentPoint);
    state.dropAddedSinceBelow(c.slot, this.confirmed);
    const wanted = state.slot(c.slot)!.snapshotWanted;
    // New pipelines' tables, read for them alone (backfill-read.ts): not when the slot was made
    // anew (its snapshot covers every pipeline), not the tables new to the slot (read for all).
    const asked = opts.backfill?.length && !recreate ? new Set(await resolveTables(sql, opts.backfill)) : new Set<string>();
    const added = recreate ? [] : addedTables(tables, state.progress(c.slot));
    // A table the slot's own snapshot has not finished (a resumed one) reaches every pipeline from there.
    const progress = state.progress(c.slot);
    const backfill = tables.filter((t) => asked.has(t) && !added.includes(t) && (!wanted || progress.get(t)?.done === true));
    // Tables a crash left unfinished: read on in the same temporary slot's snapshot (resumed-reads.ts).
    const resumed = wanted && !recreate ? resumedTables(tables, progress) : [];
    let read: Awaited<ReturnType<typeof exportForAdded>> = null;
    if (wanted) {
      this.healthNow = { status: "up", reason: "snapshot" };
      const chunkLsn = consistentPoint - 1n;
      this.snapshotBarrier = opts.checkpointLsn !== null && opts.checkpointLsn > chunkLsn ? opts.checkpointLsn : chunkLsn;
      const snapshotOf = state.slot(c.slot)!.generation; // the name of the slot's initial snapshot (record-identity.ts)
      if (removals.length) {
        await opts.onTxn({ lsn: chunkLsn, endLsn: chunkLsn, xid: 0, commitTime: BigInt(Date.now()) * 1000n, changes: removals, snapshot: true, cleanup: true, snapshotOf });
        this.removalsHanded = true;
      }
      // tables added since the slot was made: read in a temporary slot's snapshot (added-tables.ts)
      read = added.length || backfill.length || resumed.length ? await exportForAdded(() => openReplicationPg(c), c.slot, info.version, added, this.log, backfill, sql) : null;
      if (read && added.length) state.setAddedSince(c.slot, added, read.consistentPoint);
      saveResumedReads(state, c.slot, resumed, progress, read?.consistentPoint ?? null, this.log);
      const complete = await runSnapshot({
        sql,
        snapshotName: read?.snapshotName ?? snapshotName,
        slot: c.slot,
        tables,
        relations,
        chunkSize: c.snapshot_chunk_size,
        lsn: consistentPoint - 1n,
        generation: snapshotOf,
        state,
        types,
        log: this.log,
        onTxn: (t) => opts.onTxn(t),
        handed: (p) => void this.snapshotUnsaved.set(p.table, p),
        progress: this.snapshotProgress,
        stopped: () => this.stopped,
      }).catch(async (e) => {
        await read?.repl.end({ timeout: 1 }).catch(() => {});
        throw e;
      });
      if (!complete) {
        await read?.repl.end({ timeout: 1 }).catch(() => {});
        return;
      }
    } else if (backfill.length) {
      read = await exportForAdded(() => openReplicationPg(c), c.slot, info.version, [], this.log, backfill, sql);
    }
    if (opts.backfill?.length) {
      const done = await readBackfill({ sql, read, slot: c.slot, tables: backfill, relations, chunkSize: c.snapshot_chunk_size, state, types, log: this.log, onTxn: (t) => opts.onTxn(t), stopped: () => this.stopped }).finally(() =>
        read?.repl.end({ timeout: 1 }).catch(() => {}),
      );
      if (!done) return;
    } else await read?.repl.end({ timeout: 1 }).catch(() => {});
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

  /**
   * The publications to stream: the main one with every captured table that has a row identity,
   * and the inserts-only one with those that have none when the slot can stream it (see
   * inserts-publication.ts); otherwise all in the main one, as before. Returns their names.
   */
  private async setPublications(sql: Pg, tables: string[], insertsOnly: string[], recreate: boolean, version: number, marked: string | null): Promise<{ publications: string[]; second: string | null }> {
    const c = this.config;
    const second = insertsPublication(c.publication);
    const [main] = await sql`select puballtables from pg_publication where pubname = ${c.publication}`;
    if (main?.puballtables || version < 130000) {
      await ensurePublication(sql, c.publication, tables, this.log, version);
      return { publications: [c.publication], second: null };
    }
    // Made before a new slot (even empty): a table without a row identity added later can use it at once.
    const made = recreate || insertsOnly.length ? await createInsertsPublication(sql, second, this.log) : true;
    const usable = made && insertsOnly.length > 0 && (recreate || marked === second || (await insertsPublicationUsable(sql, second, c.slot)));
    const moved = usable ? insertsOnly : [];
    if (insertsOnly.length && !usable) {
      this.log.warn(
        { tables: insertsOnly, publication: c.publication },
        `${insertsOnly.join(", ")} stay in publication ${c.publication} for now, where PostgreSQL refuses UPDATE and DELETE on them (the application's too: "does not have a replica identity and publishes updates"); they move to ${second} (inserts and truncates only) at a start after the slot has passed its creation`,
      );
    }
    // Additions before removals: a table moving between the two is never in neither.
    await setInsertsPublication(sql, second, moved, false, this.log);
    try {
      await ensurePublication(sql, c.publication, tables.filter((t) => !moved.includes(t)), this.log, version);
    } catch (e) {
      if ((e as { code?: unknown }).code !== "42501") throw e;
      // The role may not alter the main publication (a DBA made it): if it already covers every table, stream it as it is.
      const problem = await publicationProblem(sql, c.publication, tables);
      if (problem || !moved.length) throw new CdcError("source_publication", `${problem ?? `cannot set publication ${c.publication}`} (${(e as Error).message})`, { component: "source" });
      this.log.warn({ publication: c.publication, tables: moved }, `cannot take ${moved.join(", ")} out of publication ${c.publication} (${(e as Error).message}): they stay in it`);
      return { publications: [c.publication], second: recreate && made ? second : null };
    }
    await setInsertsPublication(sql, second, moved, true, this.log);
    return { publications: usable ? [c.publication, second] : [c.publication], second: recreate && made ? second : null };
  }

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
        const fatal = this.reader?.engineError ?? (await this.diagnose(e));
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

  /** After a stream failure: an error that no retry can fix, or null to reconnect. */
  private async diagnose(e: unknown): Promise<Error | null> {
    if (e instanceof CdcError && ["source_role", "slot_lost", "slot_foreign", "source_wal_level"].includes(e.code)) return e;
    try {
      const slot = await getSlot(this.sql!, this.config.slot);
      if (!slot || slot.walStatus === "lost") {
        return new CdcError("slot_lost", `replication slot ${this.config.slot} ${slot ? "was invalidated (its WAL was removed: max_slot_wal_keep_size)" : "was dropped"} while streaming: changes are lost. Start with --resnapshot`, { component: "source" });
      }
      // The walsender looks the publication up as of each change it decodes: once it is dropped,
      // the slot fails on every change after the drop, also after the publication is made again
      // (a restart used to recreate it and then reconnect every second for good, warning only).
      const named = /publication "([^"]+)" does not exist/.exec(errorMessage(e))?.[1];
      for (const name of this.startOptions?.publications ?? [this.config.publication]) {
        const [pub] = await this.sql!`select 1 from pg_publication where pubname = ${name}`;
        if (!pub || name === named) return publicationLost(name, this.config.slot);
      }
      if (named) return publicationLost(named, this.config.slot);
    } catch {
      /* server unreachable: a reconnect will tell */
    }
    return null;
  }

  /**
   * The engine cuts a checkpoint: the chunks handed over so far belong to it, and once it is
   * stored they are durable in every sink, so their progress can be saved. A crash before that
   * re-reads those chunks (upserts) instead of skipping rows that never reached a sink.
   */
  checkpointCut(): () => void {
    const atCut = new Map(this.snapshotUnsaved);
    // A cut taken after the removals were handed over holds them: once it is stored they are durable.
    const removals = this.removalsHanded;
    return () => {
      this.saveSnapshotProgress(atCut);
      if (removals && this.state) {
        this.state.setRemovals(this.config.slot, null);
        this.removalsHanded = false;
      }
    };
  }

  private saveSnapshotProgress(entries: Map<string, TableProgress>): void {
    if (!this.state) return;
    for (const [table, p] of entries) {
      const saved = this.snapshotSaved.get(table);
      // Cuts are stored in order, but confirm() may have saved a later state already: never go back.
      if (!saved || p.rowsDone > saved.rowsDone || (p.done && !saved.done)) {
        this.state.save(this.config.slot, p);
        this.snapshotSaved.set(table, p);
      }
      if (this.snapshotUnsaved.get(table) === p) this.snapshotUnsaved.delete(table); // nothing newer handed over since
    }
  }

  confirm(lsn: Lsn): void {
    // Past the snapshot's position: a checkpoint after the snapshot, so every chunk is durable.
    if (this.snapshotUnsaved.size && this.snapshotBarrier !== null && lsn > this.snapshotBarrier) this.saveSnapshotProgress(new Map(this.snapshotUnsaved));
    // An idle-progress LSN stands for the server's sent position just after it (see StreamReader.keepalive).
    let flush = this.reader ? this.reader.flushPositionFor(lsn) : lsn;
    // Never past an open PREPARE: the server would not send its changes again (StreamReader.oldestPreparedLsn).
    const prepared = this.reader?.oldestPreparedLsn() ?? null;
    if (prepared !== null && prepared < flush) flush = prepared;
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

/**
 * source.binary: binary values need PostgreSQL 14+ and a binary decoder for every captured
 * column (pgoutput sends every column in binary then). Otherwise text, with a warning naming why.
 */
function binaryUsable(relations: Map<string, Relation>, types: TypeDecoders, serverVersion: number, log: Logger): boolean {
  if (serverVersion < 140000) {
    log.warn("source.binary: binary pgoutput values need PostgreSQL 14 or later; decoding the text format (same values)");
    return false;
  }
  for (const rel of relations.values()) {
    const bad = rel.columns.find((col) => !types.hasBinary(col.typeOid));
    if (bad) {
      log.warn({ table: rel.table, column: bad.name, type: bad.typeName }, `source.binary: column ${rel.table}.${bad.name} (${bad.typeName}) has no binary decoder; decoding the text format (same values)`);
      return false;
    }
  }
  return true;
}

/**
 * A publication the slot streams was dropped: the slot cannot decode past the drop (recreating
 * the publication does not help), so only a new slot and a new snapshot go on. Exit 2 (kind
 * "usage"): no restart changes it, the operator decides.
 */
export function publicationLost(publication: string, slot: string): CdcError {
  return new CdcError(
    "publication_lost",
    `publication ${publication} was dropped while replication slot ${slot} streamed it: the slot cannot decode the changes after the drop (PostgreSQL looks the publication up as of each change, so creating it again does not help) and they are lost for this slot. Stop cdc-engine, run \`cdc-engine slot drop --config <file>\`, then start with --resnapshot to read the tables again`,
    { component: "source", kind: "usage" },
  );
}

function cleanSpill(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f.endsWith(".spill")) unlinkSync(join(dir, f));
}
