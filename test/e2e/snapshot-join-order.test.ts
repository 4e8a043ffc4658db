/**
 * The initial snapshot reads lookup-join tables before the tables that join them. It read them
 * after: every row of a large event table waited out `wait` for content rows that existed all
 * along and went on with NULLs (QA, scenario 2: 140,000 join misses, NULL titles in BigQuery and
 * the webhook). `wait: 0s` makes the order visible at any size: a row whose match is not known
 * yet misses at once.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { ConfigServe, sourceAndWarehouse, waitFor } from "./harness.ts";

const CONFIG = `
source: { url: "\${SOURCE_URL}", slot: "\${CDC_SLOT}", publication: "\${CDC_PUBLICATION}" }
state: { dir: "\${CDC_STATE_DIR}", checkpoint_interval: 1s }
api: { listen: "\${CDC_LISTEN}" }
sinks:
  pg: { type: postgres, url: "\${WAREHOUSE_URL}", batch_delay: 10ms }
pipelines:
  - name: enriched
    from: public.events
    join:
      - { table: public.content, on: content_id = content.id, columns: [title], wait: 0s }
    select: [id, content_id, title]
    to: { sink: pg, table: enriched, key: [id] }
  - name: typed
    from: public.readings
    join:
      - { table: public.specs, on: spec_id = specs.id, columns: [length, price], wait: 0s }
    select: [id, spec_id, length, price]
    to: { sink: pg, table: typed, key: [id] }
`;

let src: postgres.Sql;
let wh: postgres.Sql;
let serve: ConfigServe;

beforeAll(async () => {
  const db = await sourceAndWarehouse("e2e_joinorder");
  ({ src, wh } = db);
  await src.unsafe(`create table content (id int primary key, title text not null);
    create table events (id bigserial primary key, content_id int not null);
    insert into content select g, 'title ' || g from generate_series(1, 20) g;
    insert into events (content_id) select 1 + g % 20 from generate_series(1, 3000) g;
    create table specs (id int primary key, length int, price numeric(10,2));
    create table readings (id int primary key, spec_id int);
    insert into readings values (1, 7);`);
  serve = new ConfigServe("snapshot-join-order", CONFIG, db.env);
});

afterAll(async () => {
  await serve?.stop();
  await src?.end();
  await wh?.end();
});

test("every snapshot row of the joining table finds its match; an empty joined table's columns keep their types", async () => {
  await serve.start();
  const count = async (q: string) => Number((await wh.unsafe(q).catch(() => [{ n: -1 }]))[0].n);
  await waitFor("3000 enriched rows", async () => (await count("select count(*)::int as n from enriched")) === 3000, 60_000, () => serve.logs);
  expect(await count("select count(*)::int as n from enriched where title is null")).toBe(0);
  expect(await count("select count(*)::int as n from enriched where title = 'title ' || content_id")).toBe(3000);

  // A joined table with no rows yet: its columns still have their types in the output (they were
  // text until its first change, and the sink's table kept them so: BigQuery then refused numbers).
  await waitFor("the typed row", async () => (await count("select count(*)::int as n from typed")) === 1, 30_000, () => serve.logs);
  const types = await wh`select attname::text as c, format_type(atttypid, atttypmod) as t from pg_attribute where attrelid = 'typed'::regclass and attnum > 0 and not attisdropped order by attnum`;
  expect(types.map((r) => `${r.c} ${r.t}`)).toEqual(["id integer", "spec_id integer", "length integer", "price numeric(10,2)"]);
}, 120_000);
