/**
 * A row waiting for a lookup-join match (QA, scenario 1's ods_products with a category missing
 * from the translation table):
 *  - its `wait` runs in commit time: transactions on tables the pipeline does not read move it
 *    on too (it waited as long as other tables were busy: the idle tick never came);
 *  - restored from a checkpoint and released before any change of its table came since the
 *    start, it is written (the start failed, exit 2, "columns of public.products are not known yet",
 *    on every restart until a product changed).
 */
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/log.ts";
import { startRuntime } from "../../src/engine/runtime.ts";
import { FakeSource, col, relation, txn, ins } from "./fake-source.ts";

const products = relation("public.products", [col("product_id", "text", 25, true), col("category", "text", 25)], "d", 1);
const translation = relation("public.translation", [col("category", "text", 25, true), col("english", "text", 25)], "d", 2);
const other = relation("public.other", [col("id", "integer", 23, true)], "d", 3);

// Commit times an hour ahead of the wall clock: only commit time can release the row, never the idle tick.
const T0 = BigInt(Date.now() + 3_600_000) * 1000n;
const at = (s: number) => ({ commitTime: T0 + BigInt(s * 1_000_000) });

const setup = () => {
  const dir = mkdtempSync(join(tmpdir(), "cdc-join-wait-"));
  const cfg = parseConfig(
    `source: { url: "postgres://x@127.0.0.1:1/x" }
state: { dir: "${dir}/state", checkpoint_interval: 1h }
sinks:
  wh: { type: sqlite, path: "${dir}/wh.sqlite", batch_delay: 10ms }
pipelines:
  - name: products
    from: public.products
    join:
      - { table: public.translation, on: category = translation.category, columns: [english], as: t, wait: 2s }
    select: ["*", t.english AS english] # "*": the output's columns are known only with the table's relation
    to: { sink: wh, table: clean_products, key: [product_id] }
  - name: others
    from: public.other
    to: { sink: wh, table: other_copy }
`,
    "test.yaml",
    {},
  );
  const rows = () => {
    const db = new Database(`${dir}/wh.sqlite`, { readonly: true });
    try {
      return db.query("select product_id, category, english from clean_products order by product_id").all();
    } catch {
      return [];
    } finally {
      db.close();
    }
  };
  return { cfg, rows };
};

const until = async (what: () => boolean) => {
  for (let i = 0; i < 300 && !what(); i++) await Bun.sleep(10);
};

test("a waiting row goes on with NULLs once commit time passes its wait, also on other tables' transactions", async () => {
  const { cfg, rows } = setup();
  const txns = [
    txn([ins(translation, { category: "a", english: "A" })], at(0)),
    txn([ins(products, { product_id: "p1", category: "a" }), ins(products, { product_id: "p2", category: "nope" })], at(0)),
    txn([ins(other, { id: 1 })], at(1)),
    txn([ins(other, { id: 2 })], at(3)), // past p2's deadline: released here, with a NULL english
  ];
  const source = new FakeSource(txns);
  const rt = await startRuntime(cfg, createLogger({ level: "silent" }), { source });
  try {
    await until(() => rows().length === 2);
    expect(rows()).toEqual([
      { product_id: "p1", category: "a", english: "A" },
      { product_id: "p2", category: "nope", english: null },
    ]);
  } finally {
    await rt.stop();
  }
});

test("a waiting row restored from the checkpoint is written when released before its table's next change", async () => {
  const { cfg, rows } = setup();
  const first = [
    txn([ins(translation, { category: "a", english: "A" })], at(0)),
    txn([ins(products, { product_id: "p2", category: "nope" })], at(0)),
  ];
  const one = new FakeSource(first);
  const rt1 = await startRuntime(cfg, createLogger({ level: "silent" }), { source: one });
  await until(() => one.delivered === first.length);
  await rt1.stop(); // the final checkpoint holds p2, waiting
  expect(rows()).toEqual([]);

  // After the restart only other tables change (and a translation row: the joined table's relation is known).
  const later = [txn([ins(other, { id: 1 })], at(1)), txn([ins(other, { id: 2 })], at(5))];
  const two = new FakeSource(later, { relations: [products, translation, other] });
  const rt2 = await startRuntime(cfg, createLogger({ level: "silent" }), { source: two });
  try {
    await until(() => rows().length === 1);
    expect(rows()).toEqual([{ product_id: "p2", category: "nope", english: null }]);
    expect(await Promise.race([rt2.done.then(() => "stopped"), Bun.sleep(200).then(() => "running")])).toBe("running");
  } finally {
    await rt2.stop();
  }
});
