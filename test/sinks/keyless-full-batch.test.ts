/**
 * Records of a keyless REPLICA IDENTITY FULL table addressed by their old row (byOldRow), written
 * in ONE batch with the inserts before and after them: each deletes or replaces one row equal to
 * its old row, in the batch's order (an insert then a delete of it leaves nothing, also behind a
 * run of COPY-sized inserts and among equal rows), on the postgres, sqlite and MariaDB sinks.
 * One that finds no row is skipped and reported, not an error or a dead letter.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import postgres from "postgres";
import mysql from "mysql2/promise";
import { createDatabase, requireMysql, sharedPg } from "../helpers/index.ts";
import { PostgresSink } from "../../src/sinks/postgres/sink.ts";
import { postgresSinkConfig } from "../../src/sinks/postgres/config.ts";
import { SqliteSink } from "../../src/sinks/sqlite/sink.ts";
import { MysqlSink } from "../../src/sinks/mysql/sink.ts";
import { mysqlSinkConfig } from "../../src/sinks/mysql/config.ts";
import { planBatch } from "../../src/sinks/postgres/plan.ts";
import { sinkRowsUnmatched } from "../../src/metrics/metrics.ts";
import { DlqStore } from "../../src/dlq/store.ts";
import { idempotencyKey, payloadOf } from "../../src/sinks/http/payload.ts";
import { withoutOldRowRecords } from "../../src/sinks/mysql/old-row.ts";
import { replayIntoSink } from "../../src/dlq/replay.ts";
import type { OutputRecord, Sink } from "../../src/sinks/sink.ts";
import { batch, col, context, OID, rec, table, uniq } from "./helpers.ts";

const kf = table("public.kf", [col("dev", OID.text), col("n", OID.int4), col("j", OID.json)], []);
const row = (dev: string | null, n: number | null, j: string | null = null) => ({ dev, n, j });
const oldRec = (op: "upsert" | "delete", before: Record<string, unknown>, after: Record<string, unknown> | null, i: number, lsn = 10n): OutputRecord =>
  rec(kf, op, after ?? before, lsn, i, { before, byOldRow: true, source: { table: "public.kf", op: op === "delete" ? "delete" : "update", xid: Number(lsn) } });

/**
 * 1,200 inserts of ('x', g) (a COPY run), two equal ('d', 1) rows, a NULL row, then: delete one
 * ('d', 1), update the NULL row, delete ('x', 5), insert ('t', 0) and delete it, update a json
 * row, and a delete that finds nothing.
 */
function records(lsn = 10n): OutputRecord[] {
  const out: OutputRecord[] = [];
  const ins = (r: Record<string, unknown>) => out.push(rec(kf, "upsert", r, lsn, out.length));
  const old = (op: "upsert" | "delete", before: Record<string, unknown>, after: Record<string, unknown> | null, i: number) => oldRec(op, before, after, i, lsn);
  for (let g = 0; g < 1200; g++) ins(row("x", g));
  ins(row("d", 1));
  ins(row("d", 1));
  ins(row(null, null));
  ins(row("j", 1, '{"a":  [1, 2]}'));
  out.push(old("delete", row("d", 1), null, out.length));
  out.push(old("upsert", row(null, null), row(null, 7), out.length));
  out.push(old("delete", row("x", 5), null, out.length));
  ins(row("t", 0));
  out.push(old("delete", row("t", 0), null, out.length));
  out.push(old("upsert", row("j", 1, '{"a":  [1, 2]}'), row("j", 2, '{"b": null}'), out.length));
  out.push(old("delete", row("nowhere", 0), null, out.length));
  return out;
}

/** The rows left, as sorted lines, all but the 1,199 ('x', g) rows counted. */
const WANT = { x: 1199, rest: ["d|1|∅", "j|2|{\"b\": null}", "∅|7|∅"] };
const lines = (rows: Record<string, unknown>[]) => {
  const x = rows.filter((r) => r.dev === "x");
  const rest = rows.filter((r) => r.dev !== "x").map((r) => [r.dev ?? "∅", r.n ?? "∅", r.j ?? "∅"].join("|"));
  return { x: x.length, xHas5: x.some((r) => Number(r.n) === 5), rest: rest.sort() };
};

/**
 * The records as one batch, then again as the two parts of one large transaction (written into
 * one open sink transaction): the second round's changes find the second round's rows, except
 * where the first round left an equal one.
 */
async function writeAndCheck(sink: Sink, read: () => Promise<Record<string, unknown>[]>, sinkName: string): Promise<void> {
  const misses = async () => (await sinkRowsUnmatched.get()).values.find((v) => v.labels.sink === sinkName && v.labels.op === "delete")?.value ?? 0;
  const before = await misses();
  await sink.write(batch("p", records(), 10n));
  expect(lines(await read())).toEqual({ x: WANT.x, xHas5: false, rest: WANT.rest });
  expect((await misses()) - before).toBe(1); // ('nowhere', 0)
  expect(sink.position("p")).toBe(10n);

  const again = records(20n);
  await sink.write({ pipeline: "p", records: again.slice(0, 700), lsn: 20n, part: { index: 0, last: false } });
  await sink.write({ pipeline: "p", records: again.slice(700), lsn: 20n, part: { index: 1, last: true } });
  const twice = WANT.rest.flatMap((r) => [r, r]).sort();
  expect(lines(await read())).toEqual({ x: 2 * WANT.x, xHas5: false, rest: twice });
  expect((await misses()) - before).toBe(2);
  expect(sink.position("p")).toBe(20n);
}

describe("keyless FULL records in one batch", () => {
  test("postgres plan: the old-row records keep their place among the table's inserts, json compared as text", () => {
    const stmts = planBatch(records(), new Set(), "public", () => new Map([["dev", "text"], ["n", "integer"], ["j", "json"]]));
    const kinds = stmts.map((s) => (s.copy ? "copy" : s.text.split(" ")[0]));
    expect(kinds).toEqual(["copy", "delete", "update", "delete", "insert", "delete", "update", "delete"]);
    expect(stmts[1].text).toBe(`delete from "public"."kf" where ctid = (select ctid from "public"."kf" where "dev" = $1 and "n" = $2 and "j" is null limit 1)`);
    expect(stmts[6].text).toContain(`"j"::text = $6::json::text`);
    expect(stmts[2].text).toContain(`"dev" is null and "n" is null`);
  });

  test("change-log sinks (webhook envelope): an update with its whole before image (op u), a delete with the old row (op d), named lsn:index", () => {
    const u = oldRec("upsert", row("a", 1), row("a", 2), 3);
    const d = oldRec("delete", row("a", 2), null, 4);
    const pu = payloadOf(u, "envelope", 0) as Record<string, unknown>;
    const pd = payloadOf(d, "envelope", 0) as Record<string, unknown>;
    expect([pu.op, pu.before, pu.after]).toEqual(["u", row("a", 1), row("a", 2)]);
    expect([pd.op, pd.before, pd.after]).toEqual(["d", row("a", 2), null]);
    expect(payloadOf(d, "row", 0)).toEqual({ ...row("a", 2), __deleted: true });
    expect(idempotencyKey("p", [u, d])).toBe("p:10:3-10:4");
  });

  test("StarRocks (no transaction to fence them, no DELETE … LIMIT): the table stays append-only, one warning per table", () => {
    const warnings: string[] = [];
    const log = { warn: (_o: unknown, msg: string) => warnings.push(msg) } as never;
    const warned = new Set<string>();
    const kept = withoutOldRowRecords(records(), warned, log);
    expect(kept).toHaveLength(1205);
    expect(kept.every((r) => !r.byOldRow)).toBe(true);
    withoutOldRowRecords(records(), warned, log);
    expect(warnings).toEqual(["public.kf has no key: its updates and deletes are not applied in StarRocks (append-only), only its inserts"]);
  });

  test("postgres sink", async () => {
    const pg = await sharedPg("system");
    const url = pg.url(await createDatabase(pg, "kfbatch"));
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    const sink = new PostgresSink(postgresSinkConfig.parse({ url }));
    const ctx = context("pgkf");
    await sink.open(ctx);
    try {
      await writeAndCheck(sink, () => sql`select dev, n, j::text as j from public.kf`, "pgkf");
      expect(ctx.dead).toEqual([]);
      // numeric's `=` calls 1.0 and 1.00 equal, a float's 0 and -0: compared as text, the row the source meant goes.
      const kn = table("public.kn", [col("n", OID.numeric), col("f", OID.float8)], []);
      const ins = [{ n: "1.0", f: 0 }, { n: "1.00", f: -0 }].map((r, i) => rec(kn, "upsert", r, 30n, i));
      const del = rec(kn, "delete", { n: "1.00", f: -0 }, 30n, 2, { before: { n: "1.00", f: -0 }, byOldRow: true });
      await sink.write(batch("p", [...ins, del], 30n));
      expect((await sql`select n::text as n, f::text as f from public.kn`).map((r) => `${r.n} ${r.f}`)).toEqual(["1.0 0"]);
    } finally {
      await sink.close();
      await sql.end();
    }
  }, 60_000);

  test("postgres sink: an update refused for its value keeps its old row in the DLQ, and the replay replaces one equal row", async () => {
    const pg = await sharedPg("system");
    const url = pg.url(await createDatabase(pg, "kfdlq"));
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    // A table the user made, narrower than the source: 'toolong' does not fit.
    await sql.unsafe(`create table public.kf (dev varchar(3), n int, j json); insert into public.kf values ('a', 1, null), ('a', 1, null)`);
    const sink = new PostgresSink(postgresSinkConfig.parse({ url }));
    const ctx = context("pgdlq");
    const store = new DlqStore(ctx.stateDir);
    ctx.deadLetter = ((r, error, pipeline) => store.putRecord(pipeline ?? "p", "pgdlq", r, error)) as typeof ctx.deadLetter;
    await sink.open(ctx);
    try {
      await sink.write(batch("p", [oldRec("upsert", row("a", 1), row("toolong", 2), 0)], 20n));
      const [e] = store.list();
      expect([e.op, e.row.dev, e.oldRow]).toEqual(["upsert", "toolong", { dev: "a", n: 1, j: null }]);
      expect((await sql`select dev, n from public.kf order by 1, 2`).map((r) => `${r.dev}${r.n}`)).toEqual(["a1", "a1"]);
      await sql.unsafe(`alter table public.kf alter column dev type text`);
      const result = { replayed: 0, failed: [], skipped: [], superseded: [] };
      await replayIntoSink(sink, "postgres", store.list(), store, result, { take: () => null });
      expect(result.replayed).toBe(1);
      expect((await sql`select dev, n from public.kf order by 1, 2`).map((r) => `${r.dev}${r.n}`)).toEqual(["a1", "toolong2"]);
      expect(store.count()).toBe(0);
    } finally {
      await sink.close();
      store.db.close();
      await sql.end();
    }
  }, 60_000);

  test("sqlite sink", async () => {
    const ctx = context("litekf");
    const path = join(ctx.stateDir, "kf.db");
    const sink = new SqliteSink({ path } as never);
    await sink.open(ctx);
    try {
      await writeAndCheck(sink, async () => {
        const db = new Database(path, { readonly: true });
        try {
          return db.query("select dev, n, j from kf").all() as Record<string, unknown>[];
        } finally {
          db.close();
        }
      }, "litekf");
      expect(ctx.dead).toEqual([]);
    } finally {
      await sink.close();
    }
  }, 60_000);

  test("mysql sink (MariaDB)", async () => {
    const url = await requireMysql();
    const db = uniq("cdc_kfb");
    const sink = new MysqlSink(mysqlSinkConfig.parse({ url, database: db }));
    const ctx = context("mykf");
    await sink.open(ctx);
    const c = await mysql.createConnection({ uri: `${url}/${db}` });
    try {
      await writeAndCheck(sink, async () => (await c.query("select dev, n, cast(j as char) as j from kf"))[0] as Record<string, unknown>[], "mykf");
      expect(ctx.dead).toEqual([]);
      // character(5) keeps trailing spaces in Postgres; MariaDB's CHAR(5) reads back without them.
      const kc = table("public.kc", [col("c", OID.bpchar, { typeMod: 9 }), col("n", OID.int4)], []);
      const rows = [0, 1].map((i) => rec(kc, "upsert", { c: "ab   ", n: 1 }, 30n, i));
      await sink.write(batch("p", [...rows, rec(kc, "upsert", { c: "ab   ", n: 2 }, 30n, 2, { before: { c: "ab   ", n: 1 }, byOldRow: true })], 30n));
      expect(((await c.query("select c, n from kc order by n"))[0] as { c: string; n: number }[]).map((r) => `${r.c}${r.n}`)).toEqual(["ab1", "ab2"]);
      // int8 and numeric come as text: compared as doubles, ...993 equalled ...992.
      const kb = table("public.kb", [col("b", OID.int8), col("d", OID.numeric)], []);
      const big = [{ b: 9007199254740992n, d: "0.10000000000000000001" }, { b: 9007199254740993n, d: "0.1" }];
      const gone = { b: 9007199254740993n, d: "0.1" };
      await sink.write(batch("p", [...big.map((r, i) => rec(kb, "upsert", r, 31n, i)), rec(kb, "delete", gone, 31n, 2, { before: gone, byOldRow: true })], 31n));
      expect(((await c.query("select cast(b as char) b from kb"))[0] as { b: string }[]).map((r) => r.b)).toEqual(["9007199254740992"]);
      const kd = table("public.kd", [col("d", OID.numeric)], []);
      const ds = [{ d: "0.10000000000000000001" }, { d: "0.1" }];
      await sink.write(batch("p", [...ds.map((r, i) => rec(kd, "upsert", r, 32n, i)), rec(kd, "delete", ds[1], 32n, 2, { before: ds[1], byOldRow: true })], 32n));
      expect(((await c.query("select cast(d as char) d from kd"))[0] as { d: string }[]).map((r) => r.d)).toEqual(["0.100000000000000000010000000000"]);
    } finally {
      await sink.close();
      await c.query(`drop database if exists \`${db}\``);
      await c.end();
    }
  }, 60_000);
});
