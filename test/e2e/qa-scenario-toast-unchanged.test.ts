/**
 * An update under REPLICA IDENTITY DEFAULT that leaves a TOASTed value (> 2 kB, stored out of
 * line) unchanged does not carry it: pgoutput sends it as 'unchanged'. The sinks kept a column of
 * that name, but every output *computed* from it was evaluated on a missing value:
 *  - `note AS body` (renamed) and `LENGTH(note) AS note_len` became NULL at the target;
 *  - a GROUP BY on `SUBSTRING(note, 1, 4)` moved the row into a NULL group (the warehouse and
 *    ecommerce scenarios' tables are DEFAULT unless `generate --init` made them FULL);
 *  - an expression reading the value with another column cannot be computed: it goes to the DLQ
 *    naming REPLICA IDENTITY FULL, and the target keeps the previous version;
 *  - a lookup-join table row updated without its TOASTed column kept that column as NULL in the
 *    join state: every later row joined to it got NULL.
 * Values asserted exactly against what SQL over the source gives.
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
  - name: notes_clean
    from: public.tickets
    select: [id, qty, "note AS body", "LENGTH(note) AS note_len", "note LIKE 'A%' AS is_a"]
    to: { sink: pg, table: notes_clean, key: [id] }
  - name: notes_mixed
    from: public.tickets
    select: [id, "CONCAT(label, LENGTH(note)) AS tag"]
    to: { sink: pg, table: notes_mixed, key: [id] }
  - name: per_tag
    from: public.tickets
    select: ["SUBSTRING(note, 1, 4) AS tag", qty]
    group_by: [tag]
    aggregate: { n: "COUNT(*)", total: "SUM(qty)" }
    to: { sink: pg, table: per_tag, key: [tag] }
  - name: reads_enriched
    from: public.reads
    join:
      - { table: public.docs, on: doc_id = docs.id, columns: [title, body], wait: 1s }
    select: [id, title, "LENGTH(body) AS body_len"]
    to: { sink: pg, table: reads_enriched, key: [id] }
`;

let src: postgres.Sql;
let wh: postgres.Sql;
let serve: ConfigServe;

beforeAll(async () => {
  const db = await sourceAndWarehouse("e2e_qa_toast");
  ({ src, wh } = db);
  // md5 text does not compress: 6.4 kB stored out of line (TOAST). REPLICA IDENTITY DEFAULT.
  await src.unsafe(`create table tickets (id int primary key, qty int, label text, note text);
    insert into tickets select 1, 10, 'x', 'AAAA' || string_agg(md5(i::text), '') from generate_series(1, 200) i;
    insert into tickets select 2, 20, 'y', 'BBBB' || string_agg(md5((i * 7)::text), '') from generate_series(1, 200) i;
    insert into tickets select 3, 30, 'z', 'AAAA' || string_agg(md5((i * 3)::text), '') from generate_series(1, 200) i;
    create table docs (id int primary key, title text, body text);
    insert into docs select 1, 'T1', string_agg(md5((i * 5)::text), '') from generate_series(1, 200) i;
    create table reads (id int primary key, doc_id int);
    insert into reads values (1, 1);`);
  serve = new ConfigServe("qa-toast", CONFIG, db.env);
  await serve.start();
});

afterAll(async () => {
  await serve?.stop();
  await src?.end();
  await wh?.end();
});

const q = (db: postgres.Sql, text: string) => db.unsafe(text).then((r) => JSON.stringify(r)).catch(() => "");

test("updates that leave a TOASTed column unchanged: computed columns, renamed columns and GROUP BY keys stay exact", async () => {
  const cleanSql = "select id, qty, md5(body) body, note_len, is_a from notes_clean order by id";
  const cleanSrc = "select id, qty, md5(note) body, length(note) note_len, note like 'A%' is_a from tickets order by id";
  const tagSql = "select tag, n::int, total::int from per_tag order by tag";
  const tagSrc = "select substring(note, 1, 4) tag, count(*)::int n, sum(qty)::int total from tickets group by 1 order by 1";
  await waitFor("snapshot landed", async () => (await q(wh, cleanSql)) === (await q(src, cleanSrc)) && (await q(wh, tagSql)) === (await q(src, tagSrc)), 60_000, () => serve.logs);
  expect((await src.unsafe("select pg_column_size(note) s from tickets where id = 1"))[0]!.s).toBeGreaterThan(2048);
  // the previous contributions come from the checkpoint, not from this run's memory
  expect(await serve.stop()).toBe(0);
  await serve.start();

  // the note is not touched: it is not in these updates' new rows
  await src.unsafe("update tickets set qty = 11 where id = 1");
  await src.unsafe("update tickets set qty = 21 where id = 2");
  await src.unsafe("update tickets set qty = 31, label = 'w' where id = 3");
  // a later update that does change the note moves its group
  await src.unsafe("update tickets set note = 'BBBB' || note where id = 3");
  await src.unsafe("update tickets set qty = 32 where id = 3");

  await waitFor("notes_clean equals SQL", async () => (await q(wh, cleanSql)) === (await q(src, cleanSrc)), 30_000, () => serve.logs).catch(async (e) => {
    console.log(await q(wh, "select id, qty, body is null nobody, note_len, is_a from notes_clean order by id"));
    throw e;
  });
  await waitFor("per_tag equals SQL", async () => (await q(wh, tagSql)) === (await q(src, tagSrc)), 30_000, () => serve.logs).catch(async (e) => {
    console.log(await q(wh, tagSql));
    throw e;
  });
  expect(await q(wh, tagSql)).toBe(JSON.stringify([{ tag: "AAAA", n: 1, total: 11 }, { tag: "BBBB", n: 2, total: 53 }]));
  expect(JSON.parse(await q(wh, "select id, qty, note_len, is_a from notes_clean order by id"))).toEqual([
    { id: 1, qty: 11, note_len: 6404, is_a: true },
    { id: 2, qty: 21, note_len: 6404, is_a: false },
    { id: 3, qty: 32, note_len: 6408, is_a: false },
  ]);

  // the joined row's body survives an update of its title
  await src.unsafe("update docs set title = 'T2' where id = 1");
  await src.unsafe("insert into reads values (2, 1)");
  await waitFor("reads_enriched", async () => (await q(wh, "select id, title, body_len from reads_enriched order by id")) === JSON.stringify([{ id: 1, title: "T1", body_len: 6400 }, { id: 2, title: "T2", body_len: 6400 }]), 30_000, () => serve.logs).catch(async (e) => {
    console.log(await q(wh, "select id, title, body_len from reads_enriched order by id"));
    throw e;
  });

  // label and the unsent note in one expression: refused with the reason, the previous version kept
  await waitFor("notes_mixed", async () => (await q(wh, "select id, tag from notes_mixed order by id")) === JSON.stringify([{ id: 1, tag: "x6404" }, { id: 2, tag: "y6404" }, { id: 3, tag: "w6408" }]), 30_000, () => serve.logs);
  await src.unsafe("update tickets set label = 'v' where id = 1");
  await waitFor("the refused update is in the DLQ", async () => {
    const r = await serve.run(["dlq", "list", "--json"]);
    return r.stdout.includes("set REPLICA IDENTITY FULL on public.tickets") ? r.stdout : null;
  }, 30_000, () => serve.logs);
  expect(await q(wh, "select id, tag from notes_mixed order by id")).toBe(JSON.stringify([{ id: 1, tag: "x6404" }, { id: 2, tag: "y6404" }, { id: 3, tag: "w6408" }]));
}, 90_000);
