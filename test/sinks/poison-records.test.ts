import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import postgres from "postgres";
import { createDatabase, requireMysql, sharedPg } from "../helpers/index.ts";
import { PostgresSink } from "../../src/sinks/postgres/sink.ts";
import { postgresSinkConfig } from "../../src/sinks/postgres/config.ts";
import { SqliteSink } from "../../src/sinks/sqlite/sink.ts";
import { MysqlSink } from "../../src/sinks/mysql/sink.ts";
import { mysqlSinkConfig } from "../../src/sinks/mysql/config.ts";
import type { OutputBatch, OutputRecord, Sink } from "../../src/sinks/sink.ts";
import { col, context, OID, rec, table, uniq } from "./helpers.ts";

/**
 * Records a sink refuses for their data (a CHECK or NOT NULL the source does not have) go to the
 * dead-letter queue with the database's reason; the rest of the batch is written with the
 * position, in whole batches and in the parts of a large transaction alike.
 */
const acct = table("public.acct", [col("id", OID.int8, { key: true }), col("qty", OID.int4), col("note", OID.text)], ["id"]);
const row = (id: number, qty = id % 50, note: string | null = `n${id}`) => ({ id: BigInt(id), qty, note });

interface Target {
  sink: Sink;
  ctx: ReturnType<typeof context>;
  /** Ids in the sink table, sorted (read on a connection of its own). */
  ids(): Promise<number[]>;
  note(id: number): Promise<string | null>;
  /** The position stored in the sink (read back by a freshly opened sink). */
  reopenedPosition(): Promise<bigint | null>;
  close(): Promise<void>;
}

/** 2000 upserts (COPY-sized for postgres) with 3 CHECK and 1 NOT NULL violations, then a delete and an update. */
function wholeBatch(lsn: bigint): { batch: OutputBatch; poison: bigint[] } {
  const records: OutputRecord[] = [];
  const poison = new Set([7, 1000, 1999, 500]);
  for (let id = 1; id <= 2000; id++) {
    const r = id === 500 ? row(id, 1, null) : poison.has(id) ? row(id, -1) : row(id);
    records.push(rec(acct, "upsert", r, lsn, records.length));
  }
  records.push(rec(acct, "delete", { id: 3n }, lsn, records.length));
  records.push(rec(acct, "upsert", row(2, 5, "updated"), lsn, records.length));
  return { batch: { pipeline: "p", records, lsn }, poison: [...poison].map(BigInt) };
}

function parts(lsn: bigint): OutputBatch[] {
  const part = (from: number, to: number, bad: number, index: number, last: boolean): OutputBatch => ({
    pipeline: "p",
    lsn,
    part: { index, last },
    records: Array.from({ length: to - from + 1 }, (_, i) => rec(acct, "upsert", from + i === bad ? row(bad, -5) : row(from + i), lsn, from + i)),
  });
  return [part(3000, 3999, 3500, 0, false), part(4000, 4999, 4001, 1, false), part(5000, 5009, -1, 2, true)];
}

async function scenario(make: () => Promise<Target>) {
  const t = await make();
  const ctx = t.ctx;
  try {
    const { batch, poison } = wholeBatch(1000n);
    await t.sink.write(batch);
    expect(ctx.dead.map((d) => d.record.row.id).sort()).toEqual([...poison].sort());
    for (const d of ctx.dead) expect(d.error).toMatch(/check|null|constraint/i);
    expect(ctx.dead.every((d) => d.pipeline === "p")).toBe(true);
    const want = Array.from({ length: 2000 }, (_, i) => i + 1).filter((id) => ![3, 7, 500, 1000, 1999].includes(id));
    expect(await t.ids()).toEqual(want);
    expect(await t.note(2)).toBe("updated");
    expect(t.sink.position("p")).toBe(1000n);

    // A large transaction in parts: a poison row in two parts; nothing visible before the last part.
    ctx.dead.length = 0;
    const [p0, p1, p2] = parts(2000n);
    await t.sink.write(p0);
    await t.sink.write(p1);
    expect(t.sink.position("p")).toBe(1000n);
    expect((await t.ids()).filter((id) => id >= 3000)).toEqual([]);
    expect(await t.reopenedPosition()).toBe(1000n);
    await t.sink.write(p2);
    expect(t.sink.position("p")).toBe(2000n);
    expect(ctx.dead.map((d) => Number(d.record.row.id))).toEqual([3500, 4001]);
    const big = (await t.ids()).filter((id) => id >= 3000);
    expect(big.length).toBe(2010 - 2);
    expect(big.includes(3500) || big.includes(4001)).toBe(false);
    expect(await t.reopenedPosition()).toBe(2000n);
  } finally {
    await t.close();
  }
}

describe("records a sink refuses go to the dead-letter queue; the rest is written", () => {
  test("postgres (CHECK and NOT NULL in the sink table; COPY-sized batch, then parts under savepoints)", async () => {
    const pg = await sharedPg("system");
    const db = await createDatabase(pg, "poison");
    const url = pg.url(db);
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    await admin`create table acct (id int8 primary key, qty int4 check (qty >= 0), note text not null)`;
    const cfg = postgresSinkConfig.parse({ url });
    await scenario(async () => {
      const sink = new PostgresSink(cfg);
      const ctx = context("wh");
      await sink.open(ctx);
      return {
        sink,
        ctx,
        ids: async () => (await admin`select id::int as id from acct order by id`).map((r) => r.id as number),
        note: async (id) => (await admin`select note from acct where id = ${id}`)[0]?.note ?? null,
        reopenedPosition: async () => {
          const again = new PostgresSink(cfg);
          await again.open(context("wh"));
          const p = again.position("p");
          await again.close();
          return p;
        },
        close: async () => {
          await sink.close();
          await admin.end();
        },
      };
    });
  });

  test("postgres: a value out of range and bad encoding are data errors too; a dropped connection is not", async () => {
    const { isPgDataError } = await import("../../src/sinks/postgres/errors.ts");
    const pg = await sharedPg("system");
    const sql = postgres(pg.url(), { max: 1, onnotice: () => {} });
    try {
      const errs: unknown[] = [];
      for (const q of ["select 2147483648::int4", "select chr(0)", "select 'x'::int", "select 1/0"]) errs.push(await sql.unsafe(q).catch((e) => e));
      expect(errs.map((e) => (e as { code: string }).code)).toEqual(["22003", "54000", "22P02", "22012"]);
      expect(errs.every(isPgDataError)).toBe(true);
      // by class, not by name: the minified binary renames the class ("Ce")
      expect(isPgDataError(Object.assign(new Error("division by zero"), { name: "PostgresError", code: "22012" }))).toBe(false);
      expect(isPgDataError(Object.assign(errs[3] as Error, { name: "Ce" }))).toBe(true);
      expect(isPgDataError(Object.assign(new Error("write CONNECTION_CLOSED"), { code: "CONNECTION_CLOSED" }))).toBe(false);
      expect(isPgDataError(new postgres.PostgresError({ message: "terminating connection", code: "57P01" } as never))).toBe(false);
      expect(isPgDataError(new postgres.PostgresError({ message: "deadlock", code: "40P01" } as never))).toBe(false);
      expect(isPgDataError(new postgres.PostgresError({ message: "permission denied", code: "42501" } as never))).toBe(false);
    } finally {
      await sql.end();
    }
  });

  test("sqlite (CHECK and NOT NULL in the sink table)", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "cdc-poison-")), "w.db");
    const setup = new Database(path, { create: true });
    setup.run("create table acct (id integer primary key, qty integer check (qty >= 0), note text not null)");
    setup.close();
    const read = <T>(q: string, ...args: number[]): T[] => {
      const db = new Database(path, { readonly: true });
      try {
        return db.query(q).all(...args) as T[];
      } finally {
        db.close();
      }
    };
    await scenario(async () => {
      const sink = new SqliteSink({ path, batch_size: 5000, batch_delay: 0 });
      const ctx = context("lite");
      await sink.open(ctx);
      return {
        sink,
        ctx,
        ids: async () => read<{ id: number }>("select id from acct order by id").map((r) => r.id),
        note: async (id) => read<{ note: string }>("select note from acct where id = ?", id)[0]?.note ?? null,
        reopenedPosition: async () => {
          const r = read<{ lsn: string }>("select lsn from cdc_engine_offsets where pipeline = 'p'");
          return r.length ? BigInt(r[0].lsn) : null;
        },
        close: () => sink.close(),
      };
    });
  });

  test("mariadb (CHECK and NOT NULL in the sink table)", async () => {
    const base = await requireMysql();
    const database = uniq("cdc_poison");
    const admin = await mysql.createConnection({ uri: base });
    await admin.query(`CREATE DATABASE \`${database}\``);
    await admin.query(`CREATE TABLE \`${database}\`.acct (id BIGINT PRIMARY KEY, qty INT CHECK (qty >= 0), note TEXT NOT NULL)`);
    const cfg = mysqlSinkConfig.parse({ url: base, database });
    try {
      await scenario(async () => {
        const sink = new MysqlSink(cfg);
        const ctx = context("my");
        await sink.open(ctx);
        return {
          sink,
          ctx,
          ids: async () => ((await admin.query(`SELECT id FROM \`${database}\`.acct ORDER BY id`))[0] as { id: number }[]).map((r) => Number(r.id)),
          note: async (id) => ((await admin.query(`SELECT note FROM \`${database}\`.acct WHERE id = ?`, [id]))[0] as { note: string }[])[0]?.note ?? null,
          reopenedPosition: async () => {
            const again = new MysqlSink(cfg);
            await again.open(context("my"));
            const p = again.position("p");
            await again.close();
            return p;
          },
          close: () => sink.close(),
        };
      });
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await admin.end();
    }
  });
});

