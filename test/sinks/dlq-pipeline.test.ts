/**
 * A record a sink refuses is filed under the pipeline whose batch held it. Two pipelines read the
 * same table into one sink: the runtime used to guess "the first pipeline reading that table", so
 * `dlq list --pipeline` and replay missed the second pipeline's rows.
 */
import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { parseConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/log.ts";
import { startRuntime } from "../../src/engine/runtime.ts";
import { DlqStore } from "../../src/dlq/store.ts";
import { FakeSource, col, relation, txn, ins } from "../engine/fake-source.ts";

test("two pipelines from one table into one sink: each refused record is filed under its own pipeline", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cdc-dlqp-"));
  const path = join(dir, "out.sqlite");
  // Tables the user made, refusing negative amounts.
  const db = new Database(path, { create: true });
  db.run("create table a (id integer primary key, amount integer check (amount >= 0))");
  db.run("create table b (id integer primary key, amount integer check (amount >= 0))");
  db.close();
  const cfg = parseConfig(
    `source: { url: "postgres://x@127.0.0.1:1/x" }
state: { dir: "${join(dir, "state")}", checkpoint_interval: 100ms }
sinks: { lite: { type: sqlite, path: "${path}", batch_delay: 10ms } }
pipelines:
  - { name: to_a, from: public.pay, to: { sink: lite, table: a } }
  - { name: to_b, from: public.pay, where: "amount <> 7", to: { sink: lite, table: b } }
`,
    "test.yaml",
    {},
  );
  const pay = relation("public.pay", [col("id", "integer", 23, true), col("amount", "integer", 23)]);
  const txns = [txn([ins(pay, { id: 1, amount: 5 }), ins(pay, { id: 2, amount: -1 }), ins(pay, { id: 3, amount: 7 })])];
  const source = new FakeSource(txns);
  const rt = await startRuntime(cfg, createLogger({ level: "silent" }), { source });
  for (let i = 0; i < 200 && (source.confirmed.at(-1) ?? 0n) < txns[0].lsn; i++) await Bun.sleep(25);
  await rt.stop();
  expect(await rt.done).toBeNull();
  const store = new DlqStore(join(dir, "state"));
  try {
    const byPipeline = (p: string) => store.list({ pipeline: p }).map((e) => `${e.stage}:${e.table.replace(/^public\./, "")}:${(e.row as { id: number }).id}`);
    expect(byPipeline("to_a")).toEqual(["lite:a:2"]);
    expect(byPipeline("to_b")).toEqual(["lite:b:2"]);
  } finally {
    store.close();
  }
});
