import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { parseConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/log.ts";
import { startRuntime } from "../../src/engine/runtime.ts";
import { DlqStore } from "../../src/dlq/store.ts";
import { FakeSource, col, relation, txn, ins, upd, del } from "../engine/fake-source.ts";
import type { Txn } from "../../src/types.ts";

/**
 * A dead letter that a newer change of the same key went past is stale: replaying it would
 * overwrite the newer value, or bring back a row deleted since. Replay drops such entries
 * (superseded) and writes the others.
 */
const log = createLogger({ level: "silent" });

async function runUntilDurable(cfgText: string, txns: Txn[], from?: bigint) {
  const source = new FakeSource(txns, from === undefined ? {} : { from });
  const rt = await startRuntime(parseConfig(cfgText, "t.yaml", {}), log, { source });
  const last = txns.at(-1)!.lsn;
  for (let i = 0; i < 400 && (source.confirmed.at(-1) ?? 0n) < last; i++) await Bun.sleep(25);
  return rt;
}

describe("DLQ entries superseded by a newer change of their key", () => {
  test("sink refusals: an entry updated or deleted since is dropped at replay, the others are written", async () => {
    const pg = await sharedPg("system");
    const db = await createDatabase(pg, "superseded");
    const sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
    const dir = mkdtempSync(join(tmpdir(), "cdc-superseded-"));
    await sql.unsafe("create table public.items (id bigint primary key, v text check (v <> 'bad'))");
    const cfg = `source: { url: "postgres://x@127.0.0.1:1/x" }
state: { dir: "${dir}/state", checkpoint_interval: 100ms }
sinks: { wh: { type: postgres, url: "${pg.url(db)}", batch_delay: 10ms } }
pipelines: [{ name: mirror, from: public.items, to: wh }]
`;
    const rel = relation("public.items", [col("id", "bigint", 20, true), col("v", "text", 25)]);
    const txns = [
      txn([ins(rel, { id: 1n, v: "bad" }), ins(rel, { id: 2n, v: "bad" }), ins(rel, { id: 3n, v: "bad" }), ins(rel, { id: 9007199254740993n, v: "bad" })]),
      txn([upd(rel, { id: 1n, v: "good" })]),
      txn([del(rel, { id: 2n })]),
      // the same key refused twice: the newer entry supersedes the older one
      txn([upd(rel, { id: 9007199254740993n, v: "bad" }, null)]),
    ];
    const rt1 = await runUntilDurable(cfg, txns);
    await rt1.stop();
    const store = new DlqStore(join(dir, "state"));
    const queued = store.list();
    expect(queued.map((e) => [String(e.row.id), e.supersededLsn !== null])).toEqual([
      ["1", true],
      ["2", true],
      ["3", false],
      ["9007199254740993", true],
      ["9007199254740993", false],
    ]);
    expect(queued[0].supersededLsn).toBe(txns[1].lsn);
    expect(queued[1].supersededLsn).toBe(txns[2].lsn);
    store.close();

    // The constraint is fixed; the replay writes ids 3 and 9007199254740993 (its newer entry) only.
    await sql.unsafe("alter table public.items drop constraint items_v_check");
    const rt2 = await runUntilDurable(cfg, txns, txns.at(-1)!.lsn);
    try {
      const r = await rt2.replayDlq!();
      expect(r.replayed).toBe(2);
      expect(r.failed).toEqual([]);
      expect((r.superseded as { id: number }[]).map((s) => s.id)).toEqual([queued[0].id, queued[1].id, queued[3].id]);
      expect([...(await sql`select id::text, v from public.items order by id`)]).toEqual([
        { id: "1", v: "good" },
        { id: "3", v: "bad" },
        { id: "9007199254740993", v: "bad" },
      ]);
      const left = new DlqStore(join(dir, "state"));
      expect(left.count()).toBe(0);
      left.close();
    } finally {
      await rt2.stop();
      await sql.end();
    }
  });

  test("operator rejections: a row changed since is dropped at replay; its sink keeps the newer value", async () => {
    const pg = await sharedPg("system");
    const db = await createDatabase(pg, "superseded_op");
    const sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
    const dir = mkdtempSync(join(tmpdir(), "cdc-superseded-op-"));
    const cfg = (rule: string) => `source: { url: "postgres://x@127.0.0.1:1/x" }
state: { dir: "${dir}/state", checkpoint_interval: 100ms }
sinks: { wh: { type: postgres, url: "${pg.url(db)}", batch_delay: 10ms } }
pipelines:
  - name: checked
    from: public.items
    to: { sink: wh, table: checked }
    select: [id, v]
    validate: [{ rule: "${rule}", message: "v is too long" }]
`;
    const rel = relation("public.items", [col("id", "bigint", 20, true), col("v", "text", 25)]);
    const txns = [txn([ins(rel, { id: 1n, v: "much too long" }), ins(rel, { id: 2n, v: "also too long" })]), txn([upd(rel, { id: 1n, v: "ok" })])];
    const rt1 = await runUntilDurable(cfg("length(v) < 5"), txns);
    await rt1.stop();
    const rt2 = await runUntilDurable(cfg("length(v) < 50"), txns, txns.at(-1)!.lsn);
    try {
      const r = await rt2.replayDlq!();
      expect(r.replayed).toBe(1);
      expect((r.superseded as unknown[]).length).toBe(1);
      expect([...(await sql`select id::text, v from public.checked order by id`)]).toEqual([
        { id: "1", v: "ok" },
        { id: "2", v: "also too long" },
      ]);
    } finally {
      await rt2.stop();
      await sql.end();
    }
  });
});
