import mysql from "mysql2";
import type { Connection as PromiseConnection } from "mysql2/promise";
import type { Pg } from "../../db/postgres-client.ts";
import type { Column } from "../../types.ts";
import type { TypeDecoders } from "../../source/postgres/type-decoders.ts";
import type { MysqlSinkConfig } from "../../sinks/mysql/config.ts";
import { connectionOptions, describeMysqlError } from "../../sinks/mysql/connect.ts";
import { mysqlTableName, OFFSETS_TABLE, q } from "../../sinks/mysql/ddl.ts";
import { toParam, ValueError } from "../../sinks/mysql/types.ts";
import { CdcError } from "../../errors.ts";
import { canonicalSide, Unstorable } from "./canonical.ts";
import { boundValues, bytewiseRangeSafe, keyColumns, keyIndexes, sourceSide } from "./source-rows.ts";
import type { ChunkSide, Range, SinkSide, TablePlan } from "./types.ts";
import { isLockTimeout, lockBounded, lockedError } from "./lock-wait.ts";

/** What the mysql sink would send for a value; one it refuses (DLQ) is never equal to a stored one. */
function stored(v: unknown, c: Column): unknown {
  try {
    return toParam(v, c);
  } catch (e) {
    if (e instanceof ValueError) return new Unstorable(e.message);
    throw e;
  }
}

const INTEGER_OIDS = new Set([20, 21, 23, 26]);

/** A MySQL/MariaDB sink (mysql dialect), on one connection of its own; rows are streamed. */
export class MysqlSinkSide implements SinkSide {
  readonly bytewiseKeys = true;

  private constructor(
    /** The callback API's connection streams rows; `conn` is its promise wrapper. */
    private core: mysql.Connection,
    private conn: PromiseConnection,
    private database: string,
    private src: Pg,
    private types: TypeDecoders,
    private lockMs: number,
  ) {}

  static async open(config: MysqlSinkConfig, sink: string, src: Pg, types: TypeDecoders, lockMs: number): Promise<MysqlSinkSide> {
    const opts = connectionOptions(config);
    try {
      // JSON as the server stores it: parsed, its numbers beyond 2^53 would not survive.
      const core = mysql.createConnection({ ...opts, jsonStrings: true });
      const conn = core.promise();
      // A bounded wait for a metadata lock (lock_wait_timeout) and a row lock (innodb_lock_wait_timeout), whole seconds.
      const wait = Math.max(1, Math.ceil(lockMs / 1000));
      await conn.query(`SET SESSION time_zone = '+00:00', lock_wait_timeout = ${wait}, innodb_lock_wait_timeout = ${wait}`).catch((e) => {
        core.destroy();
        throw e;
      });
      return new MysqlSinkSide(core, conn, opts.database ?? "", src, types, lockMs);
    } catch (e) {
      throw new CdcError("verify_sink", describeMysqlError(e, config), { component: `sink:${sink}`, cause: e });
    }
  }

  async position(pipeline: string, sink: string): Promise<bigint | null> {
    try {
      const [rows] = await this.conn.query(`SELECT lsn FROM ${OFFSETS_TABLE} WHERE pipeline = ? AND sink = ?`, [pipeline, sink]);
      const r = (rows as { lsn: string | number }[])[0];
      return r ? BigInt(r.lsn) : null;
    } catch (e) {
      // not "no position": the table comparing now is reported locked
      if (isLockTimeout(e)) throw lockedError(OFFSETS_TABLE, "sink", this.lockMs, e);
      return null;
    }
  }

  async columns(target: string): Promise<string[] | null> {
    const [rows] = await lockBounded(mysqlTableName(target, "mysql"), "sink", this.lockMs, () => this.conn.query("SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", [this.database, mysqlTableName(target, "mysql")]));
    const names = (rows as { name: string }[]).map((r) => r.name);
    return names.length ? names : null;
  }

  rangeSafe(key: Column[]): boolean {
    return bytewiseRangeSafe(key);
  }

  sides(plan: TablePlan, sinkColumns: string[]): { source: ChunkSide; sink: ChunkSide } {
    const cols = plan.rel.columns.filter((c) => sinkColumns.includes(c.name));
    const keyCols = keyColumns(plan);
    const table = q(mysqlTableName(plan.target, "mysql"));
    const where = (r: Range): { sql: string; params: unknown[] } => {
      if (!plan.ranged) return { sql: "", params: [] };
      const lhs = keyCols.length === 1 ? q(keyCols[0].name) : `(${keyCols.map((c) => q(c.name)).join(", ")})`;
      // An integer compared with a string parameter would be compared as a double: int8 beyond 2^53 must not.
      const one = keyCols.map((c) => (INTEGER_OIDS.has(c.typeOid) ? "CAST(? AS SIGNED)" : "?"));
      const ph = keyCols.length === 1 ? one[0] : `(${one.join(", ")})`;
      const parts: string[] = [];
      const params: unknown[] = [];
      if (r.lo) parts.push(`${lhs} > ${ph}`), params.push(...boundValues(r.lo, keyCols, this.types, stored));
      if (r.hi) parts.push(`${lhs} <= ${ph}`), params.push(...boundValues(r.hi, keyCols, this.types, stored));
      return { sql: parts.length ? `WHERE ${parts.join(" AND ")}` : "", params };
    };
    const sink = canonicalSide(cols, keyIndexes(plan, cols), async (r, each) => {
      const w = where(r);
      await lockBounded(mysqlTableName(plan.target, "mysql"), "sink", this.lockMs, async () => {
        const stream = this.core.query({ sql: `SELECT ${cols.map((c) => q(c.name)).join(", ")} FROM ${table} ${w.sql}`, values: w.params, rowsAsArray: true }).stream();
        for await (const row of stream as AsyncIterable<unknown[]>) each(row);
      });
    });
    return { source: sourceSide(this.src, plan, cols, this.types, stored), sink };
  }

  async close(): Promise<void> {
    await this.conn.end().catch(() => {});
  }
}
