import { expect, test } from "bun:test";
import { tmpdir } from "node:os";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { createLogger } from "../../src/log.ts";
import { PostgresSink } from "../../src/sinks/postgres/sink.ts";
import { postgresSinkConfig } from "../../src/sinks/postgres/config.ts";
import type { OutputRecord, OutputTable } from "../../src/sinks/sink.ts";
import { col } from "./fake-source.ts";

test("postgres sink: big runs (COPY to staging), small runs (unnest) and array tables (VALUES) write the same exact values", async () => {
  const pg = await sharedPg("system");
  const db = await createDatabase(pg, "psink");
  const sink = new PostgresSink(postgresSinkConfig.parse({ url: pg.url(db) }));
  await sink.open({ name: "wh", targets: [], stateDir: tmpdir(), log: createLogger({ level: "silent" }), deadLetter: () => {} });
  const table: OutputTable = {
    name: 'public.we"ird\ttab',
    key: ["id"],
    columns: [col("id", "bigint", 20, true), col("t", "text", 25), col("n", "numeric(30,10)", 1700), col("ts", "timestamp with time zone", 1184), col("j", "jsonb", 3802), col("b", "bytea", 17), col("f", "boolean", 16)],
  };
  const arr: OutputTable = { name: "public.arr", key: ["id"], columns: [col("id", "integer", 23, true), col("a", "text[]", 1009)] };
  const tricky = ["tab\there", "new\nline", "back\\slash \\N", 'quote " \' ;drop', "", null, "ünïcødé ✓", "\r\n"];
  const rec = (t: OutputTable, row: Record<string, unknown>, lsn: bigint, op: "upsert" | "delete" = "upsert"): OutputRecord => ({ op, table: t, row, lsn, index: 0, commitTime: 0n, source: { table: t.name, op: "insert", xid: 1 } });
  const row = (i: number, pass: number) => ({
    id: BigInt(i) * 10_000_000_000n,
    t: tricky[(i + pass) % tricky.length],
    n: `${i}.${pass}000000001`,
    ts: `2024-02-29 23:59:59.${String(i % 1_000_000).padStart(6, "0")}+00`,
    j: i % 5 === 0 ? null : `{"i": ${i}, "s": "a\\tb"}`,
    b: i % 7 === 0 ? null : new Uint8Array([i % 256, 0, 92, 9, 10]),
    f: i % 2 === 0,
  });
  // 1500 in one run (COPY), then 3 small runs (unnest), then updates of all (COPY again) and deletes (unnest).
  await sink.write({ pipeline: "p", lsn: 10n, records: Array.from({ length: 1500 }, (_, i) => rec(table, row(i, 0), 10n)) });
  await sink.write({ pipeline: "p", lsn: 11n, records: [1500, 1501, 1502].map((i) => rec(table, row(i, 0), 11n)) });
  await sink.write({ pipeline: "p", lsn: 12n, records: Array.from({ length: 1503 }, (_, i) => rec(table, row(i, 1), 12n)) });
  await sink.write({ pipeline: "p", lsn: 13n, records: [0, 7, 1502].map((i) => rec(table, { id: BigInt(i) * 10_000_000_000n }, 13n, "delete")) });
  await sink.write({ pipeline: "p", lsn: 14n, records: [rec(arr, { id: 1, a: ["x", null, 'q"\\', "t\tb"] }, 14n), rec(arr, { id: 2, a: [] }, 14n)] });
  expect(sink.position("p")).toBe(14n);
  await sink.close();

  const sql = postgres(pg.url(db), { max: 1, onnotice: () => {}, types: { bigint: postgres.BigInt } });
  const got = await sql.unsafe(`select id, t, n::text, ts::text, j::text, encode(b, 'hex') as b, f from "we""ird\ttab" order by id`);
  expect(got.length).toBe(1500);
  const expected = Array.from({ length: 1503 }, (_, i) => i)
    .filter((i) => ![0, 7, 1502].includes(i))
    .map((i) => {
      const r = row(i, 1);
      return {
        id: r.id,
        t: r.t,
        n: `${i}.1000000001`,
        ts: r.ts.replace(/\.?0+\+00$/, "+00"), // Postgres prints no trailing zeros
        j: r.j === null ? null : `{"i": ${i}, "s": "a\\tb"}`,
        b: r.b === null ? null : Buffer.from(r.b).toString("hex"),
        f: r.f,
      };
    });
  expect(got.map((r) => ({ ...r }))).toEqual(expected as unknown as typeof got);
  const a = await sql`select id, a::text from arr order by id`;
  expect(a.map((r) => [r.id, r.a])).toEqual([[1, '{x,NULL,"q\\"\\\\","t\tb"}'], [2, "{}"]]);
  const [{ lsn }] = await sql`select lsn::text from cdc_engine_offsets where pipeline = 'p' and sink = 'wh'`;
  expect(lsn).toBe("14");
  await sql.end();
}, 120_000);
