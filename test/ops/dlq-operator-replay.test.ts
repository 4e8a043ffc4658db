import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/log.ts";
import { startRuntime } from "../../src/engine/runtime.ts";
import { DlqStore } from "../../src/dlq/store.ts";
import { FakeSource, col, relation, txn, ins } from "../engine/fake-source.ts";
import { waitUntil } from "../helpers/wait-for.ts";

/**
 * A row a validation rule rejected: after the rule is fixed (new config, restart), the admin
 * replay runs its source change through the pipeline again and it lands once in the sink.
 * A windowed/aggregating pipeline's rejects are skipped (its state would change out of order).
 */
const configText = (dir: string, rule: string) => `source: { url: "postgres://x@127.0.0.1:1/x" }
state: { dir: "${dir}/state", checkpoint_interval: 100ms }
sinks:
  lite: { type: sqlite, path: "${dir}/lite.db", batch_delay: 10ms }
pipelines:
  - name: checked
    from: public.items
    to: { sink: lite, table: checked }
    select: [id, v, big]
    validate: [{ rule: "${rule}", message: "v is too long" }]
  - name: totals
    from: public.items
    to: { sink: lite, table: totals }
    group_by: [v]
    aggregate: { n: "count(*)" }
    validate: [{ rule: "${rule}", message: "v is too long" }]
`;

const rows = (file: string) => {
  const db = new Database(file, { readonly: true, safeIntegers: true });
  try {
    return db.query("select id, v, cast(big as text) as big from checked order by id").all();
  } finally {
    db.close();
  }
};

describe("DLQ replay of operator rejects", () => {
  test("a row rejected by validate lands once after the rule is fixed; stateful pipelines are skipped", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cdc-opreplay-"));
    const log = createLogger({ level: "silent" });
    const rel = relation("public.items", [col("id", "bigint", 20, true), col("v", "text", 25), col("big", "bigint", 20)]);
    const txns = [txn([ins(rel, { id: 1n, v: "ok", big: 9007199254740993n }), ins(rel, { id: 2n, v: "much too long", big: 9223372036854775807n })]), txn([ins(rel, { id: 3n, v: "fine", big: 1n })])];

    const first = new FakeSource(txns);
    const rt1 = await startRuntime(parseConfig(configText(dir, "length(v) < 5"), "t.yaml", {}), log, { source: first });
    await waitUntil("rows 1 and 3 written", async () => {
      try {
        return rows(join(dir, "lite.db")).length === 2;
      } catch {
        return false;
      }
    });
    await rt1.stop();
    const store = new DlqStore(join(dir, "state"));
    const queued = store.list();
    expect(queued.map((e) => [e.pipeline, e.stage, e.error])).toEqual([
      ["checked", "operator", "v is too long"],
      ["totals", "operator", "v is too long"],
    ]);
    expect(queued[0].source?.after).toEqual({ id: 2n, v: "much too long", big: 9223372036854775807n });
    store.close();

    // The rule is fixed; the engine restarts (its slot sends nothing new) and the DLQ is replayed.
    const rt2 = await startRuntime(parseConfig(configText(dir, "length(v) < 50"), "t.yaml", {}), log, { source: new FakeSource(txns, { from: txns[1].lsn }) });
    try {
      const r = await rt2.replayDlq!();
      expect(r.replayed).toBe(1);
      expect(r.failed).toEqual([]);
      expect((r.skipped as { reason: string }[]).map((s) => s.reason)).toEqual(["the pipeline keeps state (windows or joins): a replayed row would change it out of commit order"]);
      expect(rows(join(dir, "lite.db"))).toEqual([
        { id: 1n, v: "ok", big: "9007199254740993" },
        { id: 2n, v: "much too long", big: "9223372036854775807" },
        { id: 3n, v: "fine", big: "1" },
      ]);
      const again = await rt2.replayDlq!("checked");
      expect(again.replayed).toBe(0);
      const left = new DlqStore(join(dir, "state"));
      expect(left.list().map((e) => e.pipeline)).toEqual(["totals"]);
      left.close();
    } finally {
      await rt2.stop();
    }
  });
});
