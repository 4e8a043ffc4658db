/**
 * The mirror's records for a table without a key: under REPLICA IDENTITY FULL an update or delete
 * becomes a record addressed by its old row (byOldRow), the new row completed with the old row's
 * unchanged TOAST values; under NOTHING, or DEFAULT without a primary key (no old row), the table
 * stays append-only; a `to: key` keys it as before.
 */
import { expect, test } from "bun:test";
import { MirrorMapper } from "../../src/engine/mirror.ts";
import type { Change, Relation, Txn } from "../../src/types.ts";

const rel = (replicaIdentity: string): Relation => ({
  id: 1, schema: "public", name: "kf", table: "public.kf", replicaIdentity,
  columns: ["dev", "n", "big"].map((name) => ({ name, typeOid: 25, typeMod: -1, isKey: false })),
});
const txn = (changes: Change[]): Txn => ({ lsn: 100n, endLsn: 101n, xid: 7, commitTime: 0n, changes });
const changes = (r: Relation): Change[] => [
  { op: "insert", table: r.table, relation: r, after: { dev: "a", n: 1, big: "x".repeat(5000) } },
  { op: "update", table: r.table, relation: r, before: { dev: "a", n: 1, big: "x".repeat(5000) }, after: { dev: "a", n: 2 }, unchangedToast: ["big"] },
  { op: "delete", table: r.table, relation: r, before: { dev: "a", n: 2, big: "x".repeat(5000) } },
];

test("REPLICA IDENTITY FULL without a key: updates and deletes address one row by the old row, TOAST filled in", () => {
  const r = rel("f");
  const out = new MirrorMapper().map(txn(changes(r)), null);
  expect(out.map((o) => [o.op, o.byOldRow ?? false, o.index, o.source.op])).toEqual([["upsert", false, 0, "insert"], ["upsert", true, 1, "update"], ["delete", true, 2, "delete"]]);
  expect(out[1].row).toEqual({ dev: "a", n: 2, big: "x".repeat(5000) });
  expect(out[1].unchangedToast).toBeUndefined();
  expect(out[1].before).toEqual({ dev: "a", n: 1, big: "x".repeat(5000) });
  expect(out[2].row).toEqual({ dev: "a", n: 2, big: "x".repeat(5000) });
  expect(out[2].table.key).toEqual([]);
});

test("NOTHING, or DEFAULT without a primary key: append-only as before", () => {
  for (const ri of ["n", "d"]) {
    const r = rel(ri);
    // pgoutput sends no old row for them; a before here must not make them addressable either
    const out = new MirrorMapper().map(txn(changes(r)), null);
    expect(out.map((o) => o.op)).toEqual(["upsert"]);
  }
});

test("a `to: key` keys a FULL table without one: upserts and deletes by it", () => {
  const out = new MirrorMapper(["dev"]).map(txn(changes(rel("f"))), null);
  expect(out.map((o) => [o.op, o.byOldRow ?? false])).toEqual([["upsert", false], ["upsert", false], ["delete", false]]);
  expect(out[2].row).toEqual({ dev: "a" });
});
