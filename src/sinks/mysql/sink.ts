import mysql from "mysql2/promise";
import { ExponentialBackoff, handleWhen, retry, type RetryPolicy } from "cockatiel";
import { PartsLostError, type Health, type OutputBatch, type OutputRecord, type Sink, type SinkContext } from "../sink.ts";
import type { Lsn } from "../../types.ts";
import { CdcError } from "../../errors.ts";
import { sinkRetries, sinkUp } from "../../metrics/metrics.ts";
import { unseenRecords } from "../position-fence.ts";
import { sinkDeadLetter } from "../../dlq/sink-dead-letter.ts";
import type { MysqlSinkConfig } from "./config.ts";
import { connectionOptions, describeMysqlError, isDataError, isTransient } from "./connect.ts";
import { NO_PAD_COLLATIONS, OFFSETS_TABLE, offsetsTableSql, offsetUpsertSql, q } from "./ddl.ts";
import { TargetTables } from "./tables.ts";
import { applyGroups, applyOneByOne, type Queryable, type RowError, type StatementLimits } from "./apply.ts";
import { RowPreparer } from "./prepare.ts";
import { isUnknownColumn, LostColumnError } from "./lost-column.ts";
import { reportUnmatched } from "../unmatched-rows.ts";
import { withoutOldRowRecords } from "./old-row.ts";

/** The last try after the table's columns were read again: an Unknown column left is the row's. */
const rowErrorLastTry: RowError = (e) => isDataError(e) || isUnknownColumn(e);

/**
 * MySQL/MariaDB and StarRocks sink. MySQL: each batch and its position commit in one
 * transaction (rows upserted with INSERT ... ON DUPLICATE KEY UPDATE, deleted by key).
 * StarRocks: no multi-statement transactions, so rows are applied as keyed upserts/deletes
 * first and the position after them; a replay after a crash in between rewrites the same
 * absolute rows (idempotent for keyed tables).
 */
export class MysqlSink implements Sink {
  private pool: mysql.Pool | null = null;
  private ctx!: SinkContext;
  private readonly positions = new Map<string, Lsn>();
  /** The target tables' columns as last read; created at open. */
  private tables!: TargetTables;
  private rows!: RowPreparer;
  private readonly abort = new AbortController();
  private readonly retry: RetryPolicy;
  private state: Health = { status: "up" };
  private database = "";
  /** The server's max_allowed_packet: a larger row is refused before it is sent (it would drop the connection). */
  private maxPacket = 16 * 1024 * 1024;
  private maxStatement = 0;
  /** Created tables' collation: a NO PAD binary one when the server has it (ddl.ts NO_PAD_COLLATIONS). */
  private collation: string | undefined;
  /** Per pipeline: the transaction holding a large transaction's earlier parts, and the tables they wrote. */
  private readonly openParts = new Map<string, { conn: mysql.PoolConnection; dead: [OutputRecord, string][]; unmatched: OutputRecord[]; touched: Set<string> }>();
  /** StarRocks tables whose updates and deletes addressed by old row were skipped (warned once each). */
  private readonly appendOnlyWarned = new Set<string>();
  /** Pipelines whose last write failed without an answer: whether it committed is not known (see applyOnce). */
  private readonly unsure = new Set<string>();

  constructor(private readonly config: MysqlSinkConfig) {
    this.retry = retry(handleWhen(isTransient), {
      maxAttempts: Number.MAX_SAFE_INTEGER,
      backoff: new ExponentialBackoff({ initialDelay: 200, maxDelay: config.max_backoff }),
    });
    this.retry.onRetry((r) => {
      const reason = "error" in r ? (r.error as Error).message : "retry";
      sinkRetries.inc({ sink: this.ctx.name });
      sinkUp.set({ sink: this.ctx.name }, 0);
      this.state = { status: "down", reason };
      this.ctx.log.warn({ reason, delay_ms: Math.round(r.delay) }, "sink write failed, retrying");
    });
  }

  async open(ctx: SinkContext): Promise<void> {
    this.ctx = ctx;
    const opts = connectionOptions(this.config);
    this.database = opts.database ?? "";
    const fail = (e: unknown) => new CdcError("sink_connect", describeMysqlError(e, this.config), { component: `sink:${ctx.name}`, cause: e });
    if (!this.database) throw new CdcError("sink_config", "no database: set `database:` or put it in the URL", { component: `sink:${ctx.name}`, kind: "usage" });
    this.tables = new TargetTables(this.database, this.config.dialect, ctx.log, (t) => this.ddlOpts(t));
    this.rows = new RowPreparer(this.tables, this.config.dialect, () => this.maxPacket);
    try {
      const admin = await mysql.createConnection({ ...opts, database: undefined });
      try {
        const [dbs] = await admin.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [this.database]);
        if ((dbs as unknown[]).length === 0) {
          if (!this.config.create_database) throw Object.assign(new Error(`Unknown database '${this.database}'`), { code: "ER_BAD_DB_ERROR" });
          await admin.query(`CREATE DATABASE IF NOT EXISTS ${q(this.database)}`);
        }
      } finally {
        await admin.end().catch(() => {});
      }
      this.pool = mysql.createPool({ ...opts, connectionLimit: this.config.pool, waitForConnections: true });
      this.pool.on("connection", (c) => {
        // Strict mode: a value that does not fit is an error (→ DLQ), never silently truncated.
        if (this.config.dialect !== "mysql") return;
        // The pool hands over the callback-style connection here.
        (c as unknown as { query(sql: string, cb: (e: unknown) => void): void }).query(
          "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', time_zone = '+00:00'",
          () => {},
        );
      });
      try {
        const [mp] = await this.pool.query("SELECT @@max_allowed_packet AS m");
        this.maxPacket = Number((mp as { m: string }[])[0].m) || this.maxPacket;
      } catch {}
      this.maxStatement = Math.min(this.config.max_statement_bytes, Math.floor(this.maxPacket / 2));
      if (this.config.dialect === "mysql") {
        const [cs] = await this.pool.query("SELECT COLLATION_NAME AS c FROM information_schema.COLLATIONS WHERE COLLATION_NAME IN (?)", [NO_PAD_COLLATIONS]);
        const have = new Set((cs as { c: string }[]).map((r) => String(r.c)));
        this.collation = NO_PAD_COLLATIONS.find((c) => have.has(c));
      }
      await this.pool.query(offsetsTableSql(this.ddlOpts()));
      const [rows] = await this.pool.query(`SELECT pipeline, lsn FROM ${OFFSETS_TABLE} WHERE sink = ?`, [ctx.name]);
      for (const r of rows as { pipeline: string; lsn: string }[]) this.positions.set(r.pipeline, BigInt(r.lsn));
    } catch (e) {
      await this.pool?.end().catch(() => {});
      this.pool = null;
      throw e instanceof CdcError ? e : fail(e);
    }
    sinkUp.set({ sink: ctx.name }, 1);
  }

  position(pipeline: string): Lsn | null {
    return this.positions.get(pipeline) ?? null;
  }

  async write(batch: OutputBatch): Promise<void> {
    const unseen = unseenRecords(batch, this.positions.get(batch.pipeline));
    if (!unseen) return;
    const { store } = unseen;
    const records = this.config.dialect === "starrocks" ? withoutOldRowRecords(unseen.records, this.appendOnlyWarned, this.ctx.log) : unseen.records;
    if (batch.part && this.config.dialect === "mysql") return this.writePart(batch, records);
    const unmatched: OutputRecord[] = [];
    const dead = await this.retry.execute(() => this.applyOnce(batch, records, store, unmatched), this.abort.signal);
    if (this.state.status !== "up") this.ctx.log.info("sink reachable again");
    this.state = { status: "up" };
    sinkUp.set({ sink: this.ctx.name }, 1);
    if (store) this.positions.set(batch.pipeline, batch.lsn);
    // Rows written, batch sizes and commit-to-sink latency are counted by the engine's SinkWriter.
    for (const [rec, reason] of dead) sinkDeadLetter(this.ctx, batch.pipeline, rec, reason);
    reportUnmatched(this.ctx, batch.pipeline, unmatched);
  }

  /**
   * One part of a large transaction (mysql dialect): into the pipeline's open transaction on a
   * connection held from the first part to the last, which stores the position and commits.
   * Table DDL runs on another connection (in MySQL it would commit the open transaction).
   */
  private async writePart(batch: OutputBatch, records: OutputRecord[]): Promise<void> {
    const pool = this.pool;
    if (!pool) throw new CdcError("sink_closed", "sink is closed", { component: `sink:${this.ctx.name}` });
    const part = batch.part!;
    let open = this.openParts.get(batch.pipeline);
    if (part.index > 0 && !open) throw new PartsLostError(this.ctx.name, batch.pipeline, batch.lsn);
    if (!open) {
      const conn = await pool.getConnection();
      try {
        await conn.query("START TRANSACTION");
      } catch (e) {
        conn.destroy();
        throw e;
      }
      this.openParts.set(batch.pipeline, (open = { conn, dead: [], unmatched: [], touched: new Set() }));
    }
    const { conn, dead, touched } = open;
    const unmatched: OutputRecord[] = []; // this part's: kept only if its savepoint is
    if (part.index > 0 && this.tables.altersAny(records, touched)) {
      // A column added (or widened) in the middle of a large transaction: ALTER TABLE on another
      // connection waits for the metadata lock this open transaction holds on the table, for
      // lock_wait_timeout (a day by default), and the engine hung there, SIGTERM included. The
      // earlier parts are rolled back, the table altered, and the runtime restarts from the last
      // checkpoint, so that the slot replays the transaction whole onto the altered table.
      this.openParts.delete(batch.pipeline);
      await conn.query("ROLLBACK").catch(() => {});
      conn.destroy();
      await this.tables.ensure(pool, records);
      throw new PartsLostError(this.ctx.name, batch.pipeline, batch.lsn, new Error("a column was added or widened in its middle: the table was altered after a rollback, since ALTER TABLE waits for the open transaction's lock"));
    }
    try {
      await this.tables.ensure(pool, records);
      const prepared = await this.rows.fresh(pool, records, dead);
      // Earlier parts stay: a refused row rolls back to this savepoint only.
      await conn.query("SAVEPOINT cdc_part");
      for (const p of prepared) touched.add(p.table);
      try {
        await applyGroups(conn, prepared, this.limits(), unmatched);
      } catch (e) {
        if (!isDataError(e) && !isUnknownColumn(e)) throw e;
        await conn.query("ROLLBACK TO SAVEPOINT cdc_part");
        unmatched.length = 0;
        // A column dropped by hand: re-adding it must wait until the open transaction ends (its metadata lock).
        if (isUnknownColumn(e) && (await this.tables.reread(pool, records))) throw new LostColumnError(e as Error);
        await applyOneByOne(conn, prepared, dead, true, this.config.dialect, rowErrorLastTry, unmatched);
      }
      await conn.query("RELEASE SAVEPOINT cdc_part");
      open.unmatched.push(...unmatched);
      if (!part.last) return;
      await conn.query(offsetUpsertSql(this.config.dialect), [batch.pipeline, this.ctx.name, batch.lsn.toString()]);
      await conn.query("COMMIT");
    } catch (e) {
      this.openParts.delete(batch.pipeline);
      await conn.query("ROLLBACK").catch(() => {});
      conn.destroy();
      if (!(e instanceof LostColumnError)) throw e;
      this.ctx.log.warn({ pipeline: batch.pipeline, reason: e.server.message }, "a target column was dropped meanwhile: adding it again");
      await this.tables.ensure(pool, records);
      // The first part is all the open transaction held: written again at once. Later parts: the slot sends the transaction again.
      if (part.index === 0) return this.writePart(batch, records);
      throw new PartsLostError(this.ctx.name, batch.pipeline, batch.lsn, e);
    }
    this.openParts.delete(batch.pipeline);
    conn.release();
    this.positions.set(batch.pipeline, batch.lsn);
    for (const [rec, reason] of dead) sinkDeadLetter(this.ctx, batch.pipeline, rec, reason);
    reportUnmatched(this.ctx, batch.pipeline, open.unmatched);
  }

  /**
   * An attempt after a failed one first asks the server whether the batch is there: a COMMIT can
   * succeed while its answer is lost with the connection (the server crashed or the network broke
   * at that moment), and writing the batch again appended the rows of a table without a key twice.
   * The stored position says it: it commits with the rows. (Records that attempt would have sent
   * to the dead-letter queue are not known then.)
   */
  private async applyOnce(batch: OutputBatch, records: OutputRecord[], store: boolean, unmatched: OutputRecord[]): Promise<[OutputRecord, string][]> {
    unmatched.length = 0;
    // (A snapshot chunk shares its LSN with every other chunk: only a position past it tells.)
    if (store && this.unsure.has(batch.pipeline) && (await this.storedPosition(batch.pipeline)) >= batch.lsn + (batch.snapshot ? 1n : 0n)) {
      this.unsure.delete(batch.pipeline);
      this.ctx.log.warn({ pipeline: batch.pipeline, lsn: batch.lsn.toString() }, "the batch was committed before the connection was lost; not written again");
      return [];
    }
    try {
      const dead = await this.apply(batch, records, store, unmatched);
      this.unsure.delete(batch.pipeline);
      return dead;
    } catch (e) {
      if (store) this.unsure.add(batch.pipeline);
      throw e;
    }
  }

  /** The position stored in the sink for a pipeline (-1 when none). */
  private async storedPosition(pipeline: string): Promise<Lsn> {
    if (!this.pool) throw new CdcError("sink_closed", "sink is closed", { component: `sink:${this.ctx.name}` });
    const [rows] = await this.pool.query(`SELECT lsn FROM ${OFFSETS_TABLE} WHERE pipeline = ? AND sink = ?`, [pipeline, this.ctx.name]);
    const r = (rows as { lsn: string }[])[0];
    return r ? BigInt(r.lsn) : -1n;
  }

  /**
   * One attempt: DDL, then the rows and the position (unless !store). Returns the rows rejected for
   * their values. An Unknown column (a column dropped by hand) reads the tables again and tries once more.
   */
  private async apply(batch: OutputBatch, records: OutputRecord[], store: boolean, unmatched: OutputRecord[]): Promise<[OutputRecord, string][]> {
    const pool = this.pool;
    if (!pool) throw new CdcError("sink_closed", "sink is closed", { component: `sink:${this.ctx.name}` });
    try {
      return await this.applyRows(pool, batch, records, store, isDataError, unmatched);
    } catch (e) {
      if (!isUnknownColumn(e)) throw e;
      this.ctx.log.warn({ pipeline: batch.pipeline, reason: (e as Error).message }, "a target column is missing: reading the tables' columns again");
      await this.tables.reread(pool, records);
      return await this.applyRows(pool, batch, records, store, rowErrorLastTry, unmatched);
    }
  }

  /** `unmatched` gets the records addressed by their old row that found none in the attempt that committed. */
  private async applyRows(pool: mysql.Pool, batch: OutputBatch, records: OutputRecord[], store: boolean, rowError: RowError, unmatched: OutputRecord[]): Promise<[OutputRecord, string][]> {
    unmatched.length = 0;
    await this.tables.ensure(pool, records);
    const dead: [OutputRecord, string][] = [];
    const prepared = await this.rows.fresh(pool, records, dead);
    const offset = (c: Queryable) => (!store ? Promise.resolve() : c.query(offsetUpsertSql(this.config.dialect), [batch.pipeline, this.ctx.name, batch.lsn.toString()]));

    if (this.config.dialect === "starrocks") {
      try {
        await applyGroups(pool, prepared, this.limits());
      } catch (e) {
        if (!rowError(e)) throw e;
        await applyOneByOne(pool, prepared, dead, false, this.config.dialect, rowError);
      }
      await offset(pool);
      return dead;
    }

    const conn = await pool.getConnection();
    try {
      await conn.query("START TRANSACTION");
      try {
        await applyGroups(conn, prepared, this.limits(), unmatched);
      } catch (e) {
        if (!rowError(e)) throw e;
        // Find the bad rows: redo the batch row by row, each under a savepoint.
        await conn.query("ROLLBACK");
        unmatched.length = 0;
        await conn.query("START TRANSACTION");
        await applyOneByOne(conn, prepared, dead, true, this.config.dialect, rowError, unmatched);
      }
      await offset(conn);
      await conn.query("COMMIT");
      return dead;
    } catch (e) {
      await conn.query("ROLLBACK").catch(() => {});
      if (isTransient(e)) conn.destroy();
      throw e;
    } finally {
      conn.release();
    }
  }

  private limits(): StatementLimits {
    return { dialect: this.config.dialect, batchSize: this.config.batch_size, maxStatement: this.maxStatement };
  }

  private ddlOpts(tableName?: string) {
    const target = tableName ? this.ctx.targets.find((t) => t.options.table === tableName) : undefined;
    const buckets = (target?.options.buckets as number | undefined) ?? this.config.buckets;
    return { dialect: this.config.dialect, buckets, replicationNum: this.config.replication_num, collation: this.collation };
  }

  async health(): Promise<Health> {
    if (!this.pool) return { status: "down", reason: "not open" };
    if (this.state.status !== "up") return this.state;
    try {
      await Promise.race([this.pool.query("SELECT 1"), new Promise((_, rej) => setTimeout(() => rej(new Error("no answer within 2s")), 2000).unref())]);
      return { status: "up", details: { dialect: this.config.dialect, database: this.database } };
    } catch (e) {
      return { status: "down", reason: (e as Error).message };
    }
  }

  async close(): Promise<void> {
    this.abort.abort();
    for (const { conn } of this.openParts.values()) {
      await conn.query("ROLLBACK").catch(() => {});
      conn.destroy();
    }
    this.openParts.clear();
    await this.pool?.end().catch(() => {});
    this.pool = null;
  }
}
