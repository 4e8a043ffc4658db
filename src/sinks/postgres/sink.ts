import type { Logger } from "pino";
import { PartsLostError, type Health, type OutputBatch, type OutputRecord, type OutputTable, type Sink, type SinkContext } from "../sink.ts";
import { formatLsn, type Lsn } from "../../types.ts";
import type { PostgresSinkConfig } from "./config.ts";
import { redactUrl, type Pg } from "../../db/postgres-client.ts";
import { openSinkPg, rollbackQuietly } from "./connect.ts";
import { CdcError } from "../../errors.ts";
import { ensureOffsets, ensureTable, foreignKeyTables, OFFSETS_TABLE } from "./ddl.ts";
import { copyDirect, copyIn, planBatch, type Statement } from "./plan.ts";
import { pipelinable, writePipelined, writerClientOptions } from "./pipelined-write.ts";
import { describePgError, isPgDataError } from "./errors.ts";
import { sinkDeadLetter } from "../../dlq/sink-dead-letter.ts";
import { withoutOwnTable } from "./own-table.ts";
import { qi } from "./values.ts";
import { reportUnmatched } from "../unmatched-rows.ts";

/**
 * The Postgres sink: each batch and the pipeline's position go in one transaction (rows +
 * `cdc_engine_offsets`), so a replay after a crash skips exactly what is already there.
 * Tables are created or widened from the output table before the batch transaction.
 *
 * A batch the server refuses for its data (isPgDataError: constraint, out of range, encoding)
 * is written again in halves under savepoints until the refused records are found: those go
 * to the dead-letter queue with the server's reason, the rest is written with the position.
 * The parts of a large source transaction (OutputBatch.part) go into one open transaction on
 * a reserved connection per pipeline, committed with the position at the last part.
 */
export class PostgresSink implements Sink {
  private sql!: Pg;
  private name = "postgres";
  private log!: Logger;
  private ctx!: SinkContext;
  private positions = new Map<string, Lsn>();
  private ready = new WeakMap<OutputTable, true>();
  /** Per pipeline: the reserved connection whose open transaction holds the parts written so far. */
  private openParts = new Map<string, { conn: Reserved; dead: [OutputRecord, string][]; unmatched: OutputRecord[] }>();
  private readyNames = new Set<string>();
  private fkTables = new Set<string>();
  /** "schema.table" → column types as the sink has them. */
  private types = new Map<string, Map<string, string>>();
  private ddl: Promise<unknown> = Promise.resolve();
  /** Per pipeline: a one-connection client for pipelined batches (writePipelined); queries of two writers must not interleave. */
  private writers = new Map<string, Pg>();
  /** Pipelines whose last write failed: its COMMIT may have been carried out with the answer lost (see write). */
  private unsure = new Set<string>();

  constructor(private config: PostgresSinkConfig) {}

  async open(ctx: SinkContext): Promise<void> {
    this.name = ctx.name;
    this.log = ctx.log;
    this.ctx = ctx;
    this.sql = openSinkPg(this.config);
    try {
      await ensureOffsets(this.sql, this.config.schema);
      const rows = await this.sql.unsafe(`select pipeline, lsn::text as lsn from ${qi(this.config.schema)}.${OFFSETS_TABLE} where sink = $1`, [this.name]);
      for (const r of rows) this.positions.set(r.pipeline as string, BigInt(r.lsn as string));
      this.fkTables = await foreignKeyTables(this.sql);
    } catch (e) {
      await this.sql.end({ timeout: 1 }).catch(() => {});
      throw new CdcError("sink_open", `cannot open ${redactUrl(this.config.url)}: ${(e as Error).message}`, { cause: e, component: `sink:${this.name}` });
    }
  }

  position(pipeline: string): Lsn | null {
    return this.positions.get(pipeline) ?? null;
  }

  /**
   * A write after a failed one first asks the sink whether that batch is there: a COMMIT can be
   * carried out while its answer is lost with the connection (the server stopped or crashed, the
   * network broke at that moment), and writing the batch again appended the rows of a table
   * without a key twice (test/engine/sink-down.test.ts, 1 run in 5). The stored position commits
   * with the rows, so it says so.
   */
  async write(batch: OutputBatch): Promise<void> {
    batch = withoutOwnTable(batch, this.config.schema, this.ctx);
    if (batch.part) return this.writePart(batch);
    if (this.unsure.has(batch.pipeline)) {
      const stored = await this.storedPosition(batch.pipeline);
      this.unsure.delete(batch.pipeline);
      // A snapshot chunk shares its LSN with every other chunk: only a position past it tells.
      if (stored !== null && stored >= batch.lsn + (batch.snapshot ? 1n : 0n)) {
        this.log.warn({ pipeline: batch.pipeline, lsn: batch.lsn.toString() }, "the batch was committed before the connection was lost; not written again");
        this.positions.set(batch.pipeline, stored);
        return;
      }
    }
    try {
      await this.writeBatch(batch);
    } catch (e) {
      this.unsure.add(batch.pipeline);
      throw e;
    }
  }

  private async storedPosition(pipeline: string): Promise<Lsn | null> {
    const rows = await this.sql.unsafe(`select lsn::text as lsn from ${qi(this.config.schema)}.${OFFSETS_TABLE} where pipeline = $1 and sink = $2`, [pipeline, this.name]);
    return rows.length ? BigInt(rows[0].lsn as string) : null;
  }

  private async writeBatch(batch: OutputBatch): Promise<void> {
    await this.prepareTables(batch);
    const dead: [OutputRecord, string][] = [];
    // Records addressed by their old row that found none; only those of the attempt that committed count.
    let unmatched: OutputRecord[] = [];
    let stmts = planBatch(batch.records, this.fkTables, this.config.schema, (t) => this.types.get(t));
    if (pipelinable(stmts)) {
      if ((await this.writeFast(batch, stmts, unmatched)) === "written") {
        this.positions.set(batch.pipeline, batch.lsn);
        reportUnmatched(this.ctx, batch.pipeline, unmatched);
        return;
      }
      // Refused: the path below finds the records the server refuses (direct COPY targets are now planned through staging).
      stmts = planBatch(batch.records, this.fkTables, this.config.schema, (t) => this.types.get(t));
    }
    try {
      // The common case in one go, without savepoints.
      await this.sql.begin(async (tx) => {
        unmatched = [];
        await this.run(tx, stmts, unmatched);
        await this.storePosition(tx, batch);
      });
    } catch (e) {
      if (!isPgDataError(e)) throw e;
      // Again on a reserved connection: sql.begin() rethrows any failed query at its end, even one
      // rolled back to a savepoint.
      const conn = await this.reserve();
      try {
        await conn.unsafe("begin");
        unmatched = [];
        await this.applyNarrowing(conn, batch.records, dead, unmatched);
        await this.storePosition(conn, batch);
        await conn.unsafe("commit");
      } catch (e) {
        await rollbackQuietly(conn, e);
        throw e;
      } finally {
        conn.release();
      }
    }
    this.positions.set(batch.pipeline, batch.lsn);
    for (const [r, reason] of dead) sinkDeadLetter(this.ctx, batch.pipeline, r, reason);
    reportUnmatched(this.ctx, batch.pipeline, unmatched);
  }

  /** One part of a large transaction: into the pipeline's open transaction; the last part commits it. */
  private async writePart(batch: OutputBatch): Promise<void> {
    const part = batch.part!;
    let open = this.openParts.get(batch.pipeline);
    if (part.index > 0 && !open) throw new PartsLostError(this.name, batch.pipeline, batch.lsn);
    if (!open) {
      const conn = await this.reserve();
      try {
        await conn.unsafe("begin");
      } catch (e) {
        conn.release();
        throw e;
      }
      this.openParts.set(batch.pipeline, (open = { conn, dead: [], unmatched: [] }));
    }
    try {
      // postgres.js reconnects a dropped reserved connection on its next query, outside any
      // transaction: SAVEPOINT fails there (25P01), so a later part never runs (or commits) alone.
      if (part.index > 0) {
        await open.conn.unsafe("savepoint cdc_part");
        await open.conn.unsafe("release savepoint cdc_part");
      }
      // DDL goes into the open transaction: from another connection it would wait for this one's locks.
      await this.prepareTables(batch, open.conn);
      await this.applyNarrowing(open.conn, batch.records, open.dead, open.unmatched);
      if (!part.last) return;
      await this.storePosition(open.conn, batch);
      await open.conn.unsafe("commit");
    } catch (e) {
      this.openParts.delete(batch.pipeline);
      await rollbackQuietly(open.conn, e);
      open.conn.release();
      // Tables created in the rolled-back transaction are gone again.
      this.forgetTables();
      throw e;
    }
    this.openParts.delete(batch.pipeline);
    open.conn.release();
    this.positions.set(batch.pipeline, batch.lsn);
    for (const [r, reason] of open.dead) sinkDeadLetter(this.ctx, batch.pipeline, r, reason);
    reportUnmatched(this.ctx, batch.pipeline, open.unmatched);
  }

  /**
   * Apply records in order under a savepoint; when the server refuses them for their data, apply
   * each half the same way, down to single records, which go to `dead` (O(k log n) statements
   * for k bad records among n).
   */
  private async applyNarrowing(tx: Tx, records: OutputRecord[], dead: [OutputRecord, string][], unmatched: OutputRecord[]): Promise<void> {
    if (!records.length) return;
    await tx.unsafe("savepoint cdc_apply");
    try {
      const missed: OutputRecord[] = []; // kept only if the savepoint is
      await this.run(tx, planBatch(records, this.fkTables, this.config.schema, (t) => this.types.get(t)), missed);
      await tx.unsafe("release savepoint cdc_apply");
      unmatched.push(...missed);
      return;
    } catch (e) {
      if (!isPgDataError(e)) throw e;
      await tx.unsafe("rollback to savepoint cdc_apply");
      await tx.unsafe("release savepoint cdc_apply");
      if (records.length === 1) {
        dead.push([records[0], describePgError(e)]);
        return;
      }
    }
    const mid = records.length >> 1;
    await this.applyNarrowing(tx, records.slice(0, mid), dead, unmatched);
    await this.applyNarrowing(tx, records.slice(mid), dead, unmatched);
  }

  private async run(tx: Tx, stmts: Statement[], unmatched: OutputRecord[]): Promise<void> {
    for (const s of stmts) {
      if (s.copy) {
        if (await copyDirect(tx, s.copy)) continue; // a run of source inserts: COPY straight into the table
        await tx.unsafe(s.copy.create);
        await copyIn(tx, s.copy.into, s.copy.data);
      }
      const res = await tx.unsafe(s.text, s.params as never[], { prepare: s.text.includes("unnest(") });
      if (s.oneRowOf && res.count === 0) unmatched.push(s.oneRowOf);
      // The staging table only empties at commit: a later COPY run in this transaction must not
      // insert these rows again (a row deleted in between would come back).
      if (s.copy) await tx.unsafe(`truncate ${stagingTable(s.copy.into)}`);
    }
  }

  /**
   * A connection of our own for BEGIN ... COMMIT across calls: a one-connection client, ended
   * after. Not the pool's reserve(): postgres.js 3.4.9 never settles it when it has to open a
   * connection with fetch_types off (porsager/postgres #751, #1195; seen after idle_timeout had
   * closed the pool during a long spill), and a reserved connection the server dropped crashes
   * the process on its next query (socket.write on null). No idle timeout: the transaction stays
   * open while the source decodes the next part.
   */
  private async reserve(): Promise<Reserved> {
    const client = openSinkPg(this.config, 1, { idle_timeout: 0, connection: { application_name: "cdc-engine transaction parts" } });
    try {
      await client`select 1`;
    } catch (e) {
      await client.end({ timeout: 1 }).catch(() => {});
      throw e;
    }
    return Object.assign(client, { release: () => void client.end({ timeout: 5 }).catch(() => {}) }) as Reserved;
  }

  private positionStatement(batch: OutputBatch): { text: string; params: string[] } {
    return {
      text: `insert into ${qi(this.config.schema)}.${OFFSETS_TABLE} (pipeline, sink, lsn, updated_at) values ($1, $2, $3, now())
       on conflict (pipeline, sink) do update set lsn = excluded.lsn, updated_at = excluded.updated_at`,
      params: [batch.pipeline, this.name, batch.lsn.toString()],
    };
  }

  private async storePosition(tx: Tx, batch: OutputBatch): Promise<void> {
    const p = this.positionStatement(batch);
    await tx.unsafe(p.text, p.params);
  }

  /** writePipelined on the pipeline's own connection; a connection that failed mid-way is closed (it may hold an open transaction). */
  private async writeFast(batch: OutputBatch, stmts: Statement[], unmatched: OutputRecord[]): Promise<"written" | "refused"> {
    let conn = this.writers.get(batch.pipeline);
    if (!conn) this.writers.set(batch.pipeline, (conn = openSinkPg(this.config, 1, writerClientOptions)));
    try {
      return await writePipelined(conn, stmts, this.positionStatement(batch), unmatched);
    } catch (e) {
      this.writers.delete(batch.pipeline);
      void conn.end({ timeout: 1 }).catch(() => {});
      throw e;
    }
  }

  private forgetTables(): void {
    this.ready = new WeakMap();
    this.readyNames.clear();
  }

  /**
   * Create or widen every table the batch writes to (idempotent): outside the data transaction,
   * or inside `inTx` (the open transaction of a large source transaction's parts).
   */
  private async prepareTables(batch: OutputBatch, inTx?: Pg): Promise<void> {
    const todo: OutputTable[] = [];
    for (const r of batch.records) {
      if (this.ready.has(r.table)) continue;
      const sig = tableSignature(r.table);
      if (this.readyNames.has(sig)) {
        this.ready.set(r.table, true);
        continue;
      }
      todo.push(r.table);
      this.ready.set(r.table, true);
    }
    if (!todo.length) return;
    const sql = inTx ?? this.sql;
    const ddl = async () => {
      try {
        for (const t of todo) {
          const info = await ensureTable(sql, t, this.config.schema, inTx !== undefined);
          if (info.keyNotAdded) this.ctx.log.warn({ table: t.name, key: t.key }, `the source table ${t.name} has a key (${t.key.join(", ")}) now, but its copy cannot take it: ${info.keyNotAdded}; upserts by it go to the dead-letter queue until the copy's rows are made unique and the key added (or the table is read again with --resnapshot)`);
          this.types.set(t.name.includes(".") ? t.name : `${this.config.schema}.${t.name}`, info.columns);
          this.readyNames.add(tableSignature(t));
        }
        this.fkTables = await foreignKeyTables(sql);
      } catch (e) {
        for (const t of todo) this.ready.delete(t);
        throw e;
      }
    };
    if (inTx) return ddl();
    const job = this.ddl.then(ddl);
    this.ddl = job.catch(() => {});
    await job;
  }

  async health(): Promise<Health> {
    try {
      await Promise.race([this.sql`select 1`, Bun.sleep(1500).then(() => Promise.reject(new Error("no answer within 1.5 s")))]);
      return { status: "up", details: { positions: Object.fromEntries([...this.positions].map(([p, l]) => [p, formatLsn(l)])) } };
    } catch (e) {
      return { status: "down", reason: (e as Error).message };
    }
  }

  async close(): Promise<void> {
    for (const open of this.openParts.values()) {
      await rollbackQuietly(open.conn, null);
      open.conn.release();
    }
    this.openParts.clear();
    await Promise.all([...this.writers.values()].map((c) => c.end({ timeout: 5 }).catch(() => {})));
    this.writers.clear();
    await this.sql?.end({ timeout: 5 }).catch(() => {});
  }
}

type Reserved = Pg & { release(): void };

/** Name, key, columns and their types: a retyped column (ALTER ... TYPE) or a key the table got makes a new shape that ensureTable sees. */
function tableSignature(t: OutputTable): string {
  return t.name + "\u0000" + t.key.join("\u0001") + "\u0000" + t.columns.map((c) => `${c.name}\u0001${c.typeOid}\u0001${c.typeMod}`).join("\u0000");
}

/** A connection in a transaction: postgres.js' TransactionSql or a reserved connection after BEGIN. */
type Tx = Pick<Pg, "unsafe">;

/** `copy pg_temp."cdc_stage_1" (...) from stdin` → `pg_temp."cdc_stage_1"` (plan.ts names it). */
function stagingTable(copyInto: string): string {
  const m = /^copy (pg_temp\.(?:"(?:[^"]|"")*"|\S+)) /.exec(copyInto);
  if (!m) throw new Error(`unexpected COPY statement: ${copyInto.slice(0, 80)}`);
  return m[1];
}
