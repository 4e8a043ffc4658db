/**
 * The postgres sink's refusals through the compiled binary (built minified, as shipped): a row the
 * warehouse refuses (CHECK constraint, a value the column cannot hold) goes to the DLQ and the rest
 * of its batch is written; a direct COPY of source inserts that the warehouse refuses (a key it
 * already has) falls back to the staging path, which upserts. The minified build once renamed
 * postgres.js' error class, and every one of these was retried for good instead.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type postgres from "postgres";
import { ConfigServe, sourceAndWarehouse, waitFor } from "./harness.ts";

let src: postgres.Sql;
let wh: postgres.Sql;
let serve: ConfigServe;

const YAML = `source: { url: "\${SOURCE_URL}", slot: "\${CDC_SLOT}", publication: "\${CDC_PUBLICATION}" }
state: { dir: "\${CDC_STATE_DIR}", checkpoint_interval: 2s }
api: { listen: "\${CDC_LISTEN}" }
sinks: { wh: { type: postgres, url: "\${WAREHOUSE_URL}", batch_delay: 20ms } }
pipelines:
  - { name: kc, from: public.kc, to: wh }
`;

beforeAll(async () => {
  const dbs = await sourceAndWarehouse("refusals");
  ({ src, wh } = dbs);
  await src.unsafe("create table kc (id int primary key, v int, note text)");
  await wh.unsafe("create table kc (id int primary key, v int check (v < 990000), note text)");
  serve = new ConfigServe("refusals", YAML, dbs.env);
  await serve.start();
});

afterAll(async () => {
  await serve?.stop();
  await src?.end();
  await wh?.end();
});

const count = async (where: string) => Number((await wh.unsafe(`select count(*)::int as n from kc where ${where}`))[0].n);

test("a row the warehouse refuses goes to the DLQ with its reason; the rest of the batch and later transactions are written", async () => {
  await src.unsafe("insert into kc values (1, 1, 'ok'), (2, 995000, 'refused by the check'), (3, 3, 'ok')");
  await src.unsafe("insert into kc values (4, 4, 'later')");
  await waitFor("rows 1, 3, 4 in the warehouse", async () => (await count("id in (1, 3, 4)")) === 3, 60_000, () => serve.logs);
  expect(await count("id = 2")).toBe(0);
  const list = await serve.run(["dlq", "list"]);
  expect(list.code).toBe(0);
  expect(list.stdout).toContain("23514");
  expect(list.stdout).toContain("kc_v_check");
});

test("a direct COPY the warehouse refuses (a key it already has) is upserted through the staging table", async () => {
  await wh.unsafe("insert into kc values (10500, -1, 'already there')");
  await src.unsafe("insert into kc select g, g, 'copy' from generate_series(10000, 11499) g");
  await waitFor("1,500 copied rows", async () => (await count("id between 10000 and 11499 and note = 'copy'")) === 1500, 60_000, () => serve.logs);
  expect((await wh.unsafe("select v from kc where id = 10500"))[0].v).toBe(10500);
  expect(serve.logs).not.toContain("sink write failed");
});
