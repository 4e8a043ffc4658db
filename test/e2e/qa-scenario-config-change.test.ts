/**
 * A windowed or GROUP BY pipeline's aggregates changed between two runs on the same state dir
 * (an aggregate added to content_stats, daily_order_summary, order_agg…). Accumulators are stored
 * by position: the restored state did not fit the new plan and the first row failed with
 * "TypeError: undefined is not an object (evaluating 'acc.add')", again at every restart. Now the
 * start stops at once with exit 2 and a line naming the pipeline, the old and the new layout;
 * the config as it was starts again and goes on exactly.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { ConfigServe, sourceAndWarehouse, waitFor } from "./harness.ts";

const config = (aggregate: string) => `
source: { url: "\${SOURCE_URL}", slot: "\${CDC_SLOT}", publication: "\${CDC_PUBLICATION}" }
state: { dir: "\${CDC_STATE_DIR}", checkpoint_interval: 1s }
api: { listen: "\${CDC_LISTEN}" }
sinks:
  pg: { type: postgres, url: "\${WAREHOUSE_URL}", batch_delay: 10ms }
pipelines:
  - name: per_k
    from: public.ev
    group_by: [k]
    aggregate: { ${aggregate} }
    to: { sink: pg, table: per_k, key: [k] }
`;

let src: postgres.Sql;
let wh: postgres.Sql;
let env: Record<string, string>;
const serves: ConfigServe[] = [];

beforeAll(async () => {
  const db = await sourceAndWarehouse("e2e_qa_cfgchange");
  ({ src, wh } = db);
  await src.unsafe("create table ev (id int primary key, k int, v int); insert into ev values (1, 1, 5), (2, 1, 7), (3, 2, 1)");
  env = { ...db.env, CDC_SLOT: `qa_cfg_${Math.random().toString(36).slice(2, 8)}`, CDC_PUBLICATION: "qa_cfg", CDC_STATE_DIR: join(mkdtempSync(join(tmpdir(), "cdc-e2e-cfg-")), "state") };
});

afterAll(async () => {
  for (const s of serves) await s.stop();
  await src?.end();
  await wh?.end();
});

const rows = () => wh.unsafe("select k, total::int from per_k order by k").then((r) => JSON.stringify(r)).catch(() => "");

test("an aggregate added over an existing checkpoint: exit 2 naming the change, not a TypeError at the first row", async () => {
  const a = new ConfigServe("cfg-a", config("total: SUM(v)"), { ...env });
  serves.push(a);
  await a.start();
  await waitFor("first run", async () => (await rows()) === JSON.stringify([{ k: 1, total: 12 }, { k: 2, total: 1 }]), 30_000, () => a.logs);
  expect(await a.stop()).toBe(0);

  await src.unsafe("insert into ev values (4, 1, 100)");
  const b = new ConfigServe("cfg-b", config("total: SUM(v), n: COUNT(*)"), { ...env });
  const r = await b.run(["serve"], 30_000);
  expect(`${r.stdout}${r.stderr}`).toContain("pipeline 'per_k': its aggregates, group key or window changed since the checkpoint (was total: sum; key: k; group_by; now total: sum, n: count_star; key: k; group_by)");
  expect(r.code).toBe(2);

  // the config as it was goes on from its checkpoint, exactly
  const c = new ConfigServe("cfg-c", config("total: SUM(v)"), { ...env });
  serves.push(c);
  await c.start();
  await waitFor("the row inserted meanwhile", async () => (await rows()) === JSON.stringify([{ k: 1, total: 112 }, { k: 2, total: 1 }]), 30_000, () => c.logs);
}, 90_000);
