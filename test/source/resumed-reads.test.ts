/**
 * The filter in front of the stream after a resumed snapshot (resumed-reads.ts): which changes a
 * read after a key in a later snapshot already holds, and the key order it judges them by, which
 * must be Postgres' own (the read's `where (key) > (K)`).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import pino from "pino";
import { filterChanges, keysAbove, keyText, type TableRanges } from "../../src/source/postgres/resumed-reads.ts";
import type { Change, Relation, Txn } from "../../src/types.ts";
import { openPg, type Pg } from "../../src/db/postgres-client.ts";
import { testDb, type TestDb } from "./source-helpers.ts";

let db: TestDb;
/** A client made as the source makes its own (postgres-client.ts): keysAbove runs on that. */
let sql: Pg;
beforeAll(async () => {
  db = await testDb("system");
  sql = openPg(db.url, { max: 1 });
});
afterAll(async () => {
  await sql.end();
  await db.end();
});

test("keysAbove agrees with Postgres' row comparison for text, numeric, timestamp, bytea, integer and uuid keys", async () => {
  const cases: { types: string[]; keys: string[][]; after: string[] }[] = [
    { types: ["text", "integer"], keys: [["b", "1"], ["B", "9"], ["a", "2"], ["b", "0"], ["ä", "1"], ["", "5"], ["b", "1"]], after: ["b", "1"] },
    { types: ["numeric(10,2)"], keys: [["10.5"], ["9.99"], ["10.50"], ["-1"], ["100"]], after: ["10.50"] },
    { types: ["timestamp with time zone"], keys: [["2026-01-01 00:00:00.000001+00"], ["2025-12-31 23:59:59.999999+00"], ["2026-01-01 01:00:00+01"]], after: ["2026-01-01 00:00:00+00"] },
    { types: ["bytea"], keys: [["\\x00ff"], ["\\x01"], ["\\x00"], ["\\x0100"]], after: ["\\x01"] },
    { types: ["bigint", "smallint"], keys: [["9223372036854775807", "1"], ["-5", "3"], ["10", "-1"], ["10", "2"], ["10", "1"]], after: ["10", "1"] },
    { types: ["uuid"], keys: [["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"], ["A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12"], ["00000000-0000-0000-0000-000000000000"], ["ffffffff-ffff-ffff-ffff-ffffffffffff"]], after: ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"] },
  ];
  for (const c of cases) {
    const cols = c.types.map((t, i) => `$${i + 1}::text::${t}`).join(", ");
    const after = c.types.map((t, i) => `$${c.types.length + i + 1}::text::${t}`).join(", ");
    const want: boolean[] = [];
    for (const k of c.keys) want.push(((await db.sql.unsafe(`select (${cols}) > (${after}) as v`, [...k, ...c.after]))[0] as unknown as { v: boolean }).v);
    expect({ types: c.types, got: await keysAbove(sql, c.types)(c.keys, c.after) }).toEqual({ types: c.types, got: want });
  }
});

const rel: Relation = {
  id: 1,
  schema: "public",
  name: "t",
  table: "public.t",
  replicaIdentity: "d",
  columns: [
    { name: "id", typeOid: 20, typeName: "bigint", typeMod: -1, isKey: true },
    { name: "v", typeOid: 25, typeName: "text", typeMod: -1, isKey: false },
  ],
};
const other: Relation = { ...rel, id: 2, name: "o", table: "public.o" };

const ins = (id: bigint, r = rel): Change => ({ op: "insert", table: r.table, relation: r, key: { id }, before: null, after: { id, v: "x" } });
const del = (id: bigint): Change => ({ op: "delete", table: rel.table, relation: rel, key: { id }, before: { id }, after: null });
const upd = (id: bigint, to = id): Change => ({ op: "update", table: rel.table, relation: rel, key: { id: to }, before: to === id ? null : { id }, after: { id: to, v: "y" } });
const txn = (lsn: bigint, changes: Change[]): Txn => ({ lsn, endLsn: lsn + 1n, xid: 1, commitTime: 0n, changes });

test("a change the later read holds is dropped; one across its first key becomes the half it does not hold", async () => {
  // Read up to 100 in the slot's snapshot, on after 100 at 0/500, on after 200 at 0/900.
  const tables = new Map<string, TableRanges>([["public.t", { keyCols: ["id"], above: keysAbove(sql, ["bigint"]), ranges: [{ afterKey: ["100"], since: 500n }, { afterKey: ["200"], since: 900n }] }]]);
  const log = pino({ level: "silent" });
  const t1 = txn(400n, [ins(50n), ins(150n), ins(250n), ins(7n, other), del(120n), del(90n), upd(300n), upd(80n), upd(90n, 150n), upd(160n, 60n)]);
  const out = await filterChanges(t1, tables, log);
  expect(out.map((c) => `${c.op}:${(c.key as { id: bigint }).id}`)).toEqual(["insert:50", "insert:7", "delete:90", "update:80", "delete:90", "insert:60"]);
  expect(out[4].before).toEqual({ id: 90n });
  expect(out[5].after).toEqual({ id: 60n, v: "y" });
  // Between the two reads: only the second one (keys above 200) holds it.
  const t2 = txn(700n, [ins(150n), ins(250n), upd(210n, 150n)]);
  expect((await filterChanges(t2, tables, log)).map((c) => `${c.op}:${(c.key as { id: bigint }).id}`)).toEqual(["insert:150", "insert:150"]);
  // Nothing to drop: the same array comes back.
  const t3 = txn(450n, [ins(1n), upd(2n)]);
  expect(await filterChanges(t3, tables, log)).toBe(t3.changes);
});

test("a range without a key holds every row; a truncate it holds is not applied", async () => {
  const tables = new Map<string, TableRanges>([["public.t", { keyCols: ["id"], above: keysAbove(sql, ["bigint"]), ranges: [{ afterKey: null, since: 500n }] }]]);
  const lines: string[] = [];
  const log = pino({ level: "warn" }, { write: (l: string) => void lines.push(JSON.parse(l).msg) });
  const trunc: Change = { op: "truncate", table: rel.table, relation: rel, truncate: { cascade: false, restartIdentity: false } };
  expect(await filterChanges(txn(10n, [ins(1n), trunc, ins(5n, other)]), tables, log)).toEqual([ins(5n, other)]);
  expect(lines.join()).toContain("TRUNCATE of public.t");
  expect(keyText({ id: 5n, v: null }, ["id"])).toEqual(["5"]);
  expect(keyText({ id: null }, ["id"])).toBeNull();
});
