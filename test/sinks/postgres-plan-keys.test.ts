import { expect, test } from "bun:test";
import { planBatch } from "../../src/sinks/postgres/plan.ts";
import type { OutputRecord, OutputTable } from "../../src/sinks/sink.ts";

// Within a run, a later record on a key replaces the earlier one (last write wins). Runs whose
// keys keep rising keep no key map (plan.ts addKeyed): these check the switch to the map when a
// key stops rising, for every key shape, against the rule computed the plain way.

const col = (name: string, typeName: string, isKey = false) => ({ name, typeName, typeOid: 0, typeMod: -1, isKey });
const types = () => new Map([["id", "bigint"], ["k2", "text"], ["n", "integer"]]);
const single: OutputTable = { name: "public.single", key: ["id"], columns: [col("id", "bigint", true), col("n", "integer")] };
const composite: OutputTable = { name: "public.pair", key: ["id", "k2"], columns: [col("id", "bigint", true), col("k2", "text", true), col("n", "integer")] };
const upsert = (t: OutputTable, row: Record<string, unknown>, i: number): OutputRecord => ({ op: "upsert", table: t, row, lsn: 1n, index: i, commitTime: 0n, source: { table: t.name, op: "insert", xid: 1 } });

/** The expected rows: first position of each key, holding the key's last row. */
function lastWriteWins(rows: Record<string, unknown>[], key: string[]): Record<string, unknown>[] {
  const at = new Map<string, number>();
  const out: Record<string, unknown>[] = [];
  for (const r of rows) {
    const k = key.map((c) => String(r[c])).join("|");
    const i = at.get(k);
    if (i === undefined) at.set(k, out.push(r) - 1);
    else out[i] = r;
  }
  return out;
}

/** The n column of the planned statement: its unnest array literal, or the one row's parameter. */
function plannedN(records: OutputRecord[]): number[] {
  const [st] = planBatch(records, new Set(), "public", types);
  const last = st.params[st.params.length - 1] as string;
  if (!last.startsWith("{")) return [Number(last)];
  return last.slice(1, -1).split(",").map((v) => Number(v.replace(/"/g, "")));
}

const cases: [string, OutputTable, Record<string, unknown>[]][] = [
  ["rising bigints", single, [1n, 2n, 5n, 9n].map((id, n) => ({ id, n }))],
  ["rising, then a key again", single, [1n, 2n, 3n, 2n, 4n, 1n].map((id, n) => ({ id, n }))],
  ["the first key repeated at once", single, [7n, 7n, 7n].map((id, n) => ({ id, n }))],
  ["falling keys", single, [9n, 8n, 9n, 1n].map((id, n) => ({ id, n }))],
  ["number keys with a repeat", single, [1, 2, 3, 3].map((id, n) => ({ id, n }))],
  ["string keys, rising then repeated", single, ["a", "b", "c", "b"].map((id, n) => ({ id, n }))],
  ["a NULL key among bigints", single, [1n, null, 2n, null].map((id, n) => ({ id, n }))],
  ["composite keys", composite, [[1n, "a"], [1n, "b"], [2n, "a"], [1n, "b"], [1n, "a"]].map(([id, k2], n) => ({ id, k2, n }))],
];

for (const [name, t, rows] of cases) {
  test(`plan, last write per key: ${name}`, () => {
    const want = lastWriteWins(rows, t.key).map((r) => r.n);
    const records = rows.map((r, i) => upsert(t, r, i));
    expect(plannedN(records)).toEqual(want as number[]);
    expect(planBatch(records, new Set(), "public", types)[0].rows).toBe(want.length);
  });
}

test("plan, last write per key: 20,000 rising keys with every 1,000th repeated late keep the last rows", () => {
  const rows = Array.from({ length: 20_000 }, (_, i) => ({ id: BigInt(i), n: i }));
  for (let i = 0; i < 20_000; i += 1000) rows.push({ id: BigInt(i), n: -1 - i });
  const [st] = planBatch(rows.map((r, i) => upsert(single, r, i)), new Set(), "public", types);
  expect(st.rows).toBe(20_000);
  const lines = st.copy!.data.toString().trimEnd().split("\n");
  expect(lines.length).toBe(20_000);
  expect(lines[0]).toBe("0\t-1");
  expect(lines[1000]).toBe("1000\t-1001");
  expect(lines[1001]).toBe("1001\t1001");
});
