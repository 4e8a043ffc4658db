import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { parseConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/log.ts";
import { startRuntime } from "../../src/engine/runtime.ts";
import { FakeSource, col, relation, txn, ins, upd, del, trunc } from "./fake-source.ts";
import type { Txn } from "../../src/types.ts";

const log = createLogger({ level: "silent" });

function config(sinkUrl: string, stateDir: string, from: string[], sink?: string) {
  return parseConfig(
    `source: { url: "postgres://x@127.0.0.1:1/x" }
state: { dir: "${stateDir}", checkpoint_interval: 200ms }
sinks:
  wh: ${sink ?? `{ type: postgres, url: "${sinkUrl}", batch_delay: 20ms }`}
pipelines:
  - name: mirror
    from: [${from.map((f) => JSON.stringify(f)).join(", ")}]
    to: wh
`,
    "test.yaml",
    {},
  );
}

async function runOnce(cfg: ReturnType<typeof config>, txns: Txn[]) {
  const source = new FakeSource(txns);
  const rt = await startRuntime(cfg, log, { source });
  // The fake source delivers everything at once; wait until its last transaction is durable.
  const last = txns.at(-1)!.lsn;
  for (let i = 0; i < 200 && (source.confirmed.at(-1) ?? 0n) < last; i++) await Bun.sleep(25);
  await rt.stop();
  expect(await rt.done).toBeNull();
  return source;
}

describe("mirror runtime into postgres (fake source)", () => {
  test("upsert/delete/truncate, key change, TOAST, no-PK append, weird names, exact values, replay", async () => {
    const pg = await sharedPg("system");
    const db = await createDatabase(pg, "sink");
    const sql = postgres(pg.url(db), { max: 1, onnotice: () => {}, types: { bigint: postgres.BigInt } });
    const stateDir = mkdtempSync(join(tmpdir(), "cdc-state-"));
    const acc = relation("public.accounts", [col("id", "integer", 23, true), col("balance", "numeric(20,6)", 1700), col("big", "bigint", 20), col("doc", "text", 25), col("ts", "timestamp with time zone", 1184)]);
    const hist = relation("public.history", [col("aid", "integer", 23), col("delta", "integer", 23)], "d", 2);
    const weird = relation('public.weird"name;drop', [col('k"ey', "text", 25, true), col("v", "integer[]", 1007), col("b", "bytea", 17)], "d", 3);
    const txns: Txn[] = [
      txn([ins(acc, { id: 1, balance: "12345678901234.123456", big: 9007199254740993n, doc: "x".repeat(5000), ts: "2024-01-02 03:04:05.123456+00" }), ins(hist, { aid: 1, delta: 5 })]),
      txn([ins(acc, { id: 2, balance: "1", big: 1n, doc: "two", ts: "2024-01-02 03:04:05.000001+00" }), ins(hist, { aid: 2, delta: 7 })]),
      // unchanged TOAST: doc is left alone
      txn([upd(acc, { id: 1, balance: "2.5", big: -9223372036854775808n, ts: "2024-01-02 03:04:05.123456+00" }, null, ["doc"])]),
      // primary key change 2 → 3
      txn([upd(acc, { id: 3, balance: "1", big: 1n, doc: "two", ts: "2024-01-02 03:04:05.000001+00" }, { id: 2 })]),
      txn([ins(weird, { 'k"ey': "a;b", v: [1, null, 3], b: new Uint8Array([0, 255, 34]) })]),
      txn([ins(acc, { id: 4, balance: "0", big: 0n, doc: null, ts: null })]),
      txn([del(acc, { id: 4 })]),
      txn([]), // idle heartbeat
    ];
    const cfg = config(pg.url(db), stateDir, ["public.accounts", "public.history", 'public.weird"name;drop']);
    const s1 = await runOnce(cfg, txns);
    expect(s1.confirmed.at(-1)).toBe(txns.at(-1)!.lsn);

    const rows = await sql`select id, balance::text, big, length(doc) as doclen, ts::text from accounts order by id`;
    expect(rows.map((r) => ({ ...r }))).toEqual([
      { id: 1, balance: "2.500000", big: -9223372036854775808n, doclen: 5000, ts: "2024-01-02 03:04:05.123456+00" },
      { id: 3, balance: "1.000000", big: 1n, doclen: 3, ts: "2024-01-02 03:04:05.000001+00" },
    ]);
    const w = await sql.unsafe(`select "k""ey" as k, v::text, encode(b, 'hex') as b from "weird""name;drop"`);
    expect((w as unknown as Record<string, unknown>[]).map((r) => ({ ...r }))).toEqual([{ k: "a;b", v: "{1,NULL,3}", b: "00ff22" }]);
    // Replay everything (a restart from an older slot position): nothing is applied twice.
    await runOnce(cfg, [...txns, txn([ins(hist, { aid: 9, delta: 1 }), trunc(acc)])]);
    const h = await sql`select aid, delta from history order by aid`;
    expect(h.map((r) => [r.aid, r.delta])).toEqual([[1, 5], [2, 7], [9, 1]]);
    expect((await sql`select count(*)::int as n from accounts`)[0].n).toBe(0);
    const off = await sql`select pipeline, sink, lsn::text from cdc_engine_offsets`;
    expect(off.length).toBe(1);
    expect(off[0].pipeline).toBe("mirror");
    await sql.end();
  }, 120_000);

  test("sqlite sink: same stream, exact values, replay skipped", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "cdc-state-"));
    const file = join(stateDir, "wh.sqlite");
    const acc = relation("public.accounts", [col("id", "integer", 23, true), col("balance", "numeric(20,6)", 1700), col("big", "bigint", 20), col("ts", "timestamptz", 1184)]);
    const other = relation("sales.hist", [col("aid", "integer", 23), col("b", "bytea", 17)], "n", 2);
    const txns: Txn[] = [
      txn([ins(acc, { id: 1, balance: "12345678901234.123456", big: 9007199254740993n, ts: "2024-01-02 03:04:05.123456+00" }), ins(other, { aid: 1, b: new Uint8Array([1, 2]) })]),
      txn([upd(acc, { id: 1, balance: "2.5", big: 5n, ts: null }), ins(acc, { id: 2, balance: "1", big: 1n, ts: null })]),
      txn([del(acc, { id: 2 }), ins(other, { aid: 2, b: null })]),
    ];
    const cfg = config("", stateDir, ["public.accounts", "sales.hist"], `{ type: sqlite, path: "${file}", batch_delay: 10ms }`);
    await runOnce(cfg, txns);
    await runOnce(cfg, [...txns, txn([ins(acc, { id: 3, balance: "3", big: 3n, ts: null })])]);
    const { Database } = await import("bun:sqlite");
    const db = new Database(file, { safeIntegers: true });
    expect(db.query("select id, balance, big, ts from accounts order by id").all()).toEqual([
      { id: 1n, balance: "2.5", big: 5n, ts: null },
      { id: 3n, balance: "3", big: 3n, ts: null },
    ]);
    expect((db.query('select count(*) as n from "sales.hist"').get() as { n: bigint }).n).toBe(2n);
    db.close();
  }, 120_000);

  test("operator pipeline (where + select) through the runtime into sqlite, checkpointed", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "cdc-state-"));
    const file = join(stateDir, "wh.sqlite");
    const acc = relation("public.accounts", [col("id", "integer", 23, true), col("balance", "numeric(20,6)", 1700), col("owner", "text", 25)]);
    const cfg = parseConfig(
      `source: { url: "postgres://x@127.0.0.1:1/x" }
state: { dir: "${stateDir}", checkpoint_interval: 100ms }
sinks:
  wh: { type: sqlite, path: "${file}", batch_delay: 10ms }
pipelines:
  - name: rich
    from: public.accounts
    where: "balance >= 100"
    select: ["id", "UPPER(owner) AS owner", "balance * 2 AS doubled"]
    to: { sink: wh, table: rich_accounts }
`,
      "test.yaml",
      {},
    );
    const txns: Txn[] = [
      txn([ins(acc, { id: 1, balance: "150.50", owner: "ann" }), ins(acc, { id: 2, balance: "5", owner: "bob" })]),
      txn([upd(acc, { id: 2, balance: "100", owner: "bob" }), ins(acc, { id: 3, balance: "1000.000001", owner: "cy" })]),
    ];
    await runOnce(cfg, txns);
    const { Database } = await import("bun:sqlite");
    const db = new Database(file);
    expect(db.query("select id, owner, doubled from rich_accounts order by id").all()).toEqual([
      { id: 1, owner: "ANN", doubled: "301.00" },
      { id: 2, owner: "BOB", doubled: "200" },
      { id: 3, owner: "CY", doubled: "2000.000002" },
    ]);
    db.close();
  }, 120_000);
});
