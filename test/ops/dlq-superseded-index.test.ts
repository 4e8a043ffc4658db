import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DlqStore } from "../../src/dlq/store.ts";
import { SupersededLetters } from "../../src/dlq/superseded.ts";
import type { OutputRecord, OutputTable } from "../../src/sinks/sink.ts";

const table: OutputTable = { name: "public.t", columns: [{ name: "id", typeOid: 20, typeMod: -1, isKey: true }, { name: "v", typeOid: 25, typeMod: -1, isKey: false }], key: ["id"] };
const rec = (id: bigint, lsn: bigint, index = 0, v = "x"): OutputRecord => ({ op: "upsert", table, row: { id, v }, lsn, index, commitTime: 0n, source: { table: "public.t", op: "update", xid: 1 } });

test("superseded index: a newer record of the key marks it, an older or other key does not; the watch is bounded", () => {
  const store = new DlqStore(mkdtempSync(join(tmpdir(), "cdc-sup-")));
  let warned = 0;
  const idx = new SupersededLetters(store, () => warned++, 2);
  store.putRecord("p", "wh", rec(1n, 100n, 3), "refused");
  store.putRecord("p", "wh", rec(2n, 100n, 4), "refused");
  store.putRecord("p", "wh", rec(3n, 100n, 5), "refused"); // over the limit of 2: not watched
  expect(warned).toBe(1);
  idx.records("p", "wh", [rec(1n, 100n, 2), rec(2n, 100n, 4)]); // before it in its own transaction, and itself: not newer
  idx.records("other", "wh", [rec(1n, 200n)]); // another pipeline
  idx.records("p", "other", [rec(1n, 200n)]); // another sink
  expect(store.list().map((e) => e.supersededLsn)).toEqual([null, null, null]);
  idx.records("p", "wh", [rec(1n, 100n, 7), rec(2n, 300n), rec(3n, 300n)]);
  expect(store.list().map((e) => [e.row.id, e.supersededLsn])).toEqual([
    [1n, 100n],
    [2n, 300n],
    [3n, null],
  ]);
  // a restart reads back what is still watched (only key 3 now, which fits)
  const again = new SupersededLetters(store, () => warned++, 2);
  again.records("p", "wh", [rec(3n, 400n)]);
  expect(store.list().map((e) => e.supersededLsn)).toEqual([100n, 300n, 400n]);
  expect(warned).toBe(1);
  store.close();
});
