/**
 * The source's connections are cut while the initial snapshot is being read (a failover, a DBA's
 * pg_terminate_backend, a network blip). The engine had started, so the config works: it starts
 * again in-process from its checkpoint and the snapshot's saved progress, as it does after a lost
 * sink transaction, instead of exiting and leaving the restart to systemd. Every row arrives once,
 * and a row the first attempt copied and the source deleted since does not stay in the sink
 * (no checkpoint yet: the slot is made again, after its deletes are handed over; gap-deletes.ts).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import postgres from "postgres";
import { ConfigServe, sourceAndWarehouse, waitFor } from "./harness.ts";

const CONFIG = `
source: { url: "\${SOURCE_URL}", slot: "\${CDC_SLOT}", publication: "\${CDC_PUBLICATION}", snapshot_chunk_size: 1000 }
state: { dir: "\${CDC_STATE_DIR}" }
api: { listen: "\${CDC_LISTEN}" }
sinks:
  wh: { type: postgres, url: "\${WAREHOUSE_URL}", batch_delay: 10ms }
pipelines:
  - { name: copy, from: public.big, to: wh }
  - name: per_k
    from: public.big
    group_by: [k]
    aggregate: { n: COUNT(*), total: SUM(v) }
    to: { sink: wh, table: per_k, key: [k] }
`;

let src: postgres.Sql;
let wh: postgres.Sql;
let serve: ConfigServe;
const ROWS = 150_000;

beforeAll(async () => {
  const db = await sourceAndWarehouse("e2e_cut");
  ({ src, wh } = db);
  await src.unsafe(`create table big (id bigint primary key, k int not null, v int not null, pad text);
    insert into big select g, g % 10, g % 7, repeat('x', 100) from generate_series(1, ${ROWS}) g`);
  serve = new ConfigServe("snapshot-connection-lost", CONFIG, db.env);
});

afterAll(async () => {
  await serve?.stop();
  await src?.end();
  await wh?.end();
});

const count = async (sql: postgres.Sql, table: string) => Number((await sql.unsafe(`select count(*)::int as n from ${table}`).catch(() => [{ n: -1 }]))[0].n);

test("connections cut mid-snapshot: the engine restarts in-process, resumes, and the mirror and the GROUP BY equal the source", async () => {
  await serve.start();
  // Part of the table is in the sink, not all of it: the snapshot is under way.
  await waitFor("the snapshot under way", async () => {
    const n = await count(wh, "big");
    return n > 0 && n < ROWS;
  }, 60_000, () => serve.logs);
  // Rows the snapshot has already copied (it reads in key order) are deleted, before and after the cut.
  const copied = await count(wh, "big");
  await src.unsafe(`delete from big where id <= ${copied} and id % 97 = 0`);
  const cut = await src`select count(*)::int as n from (select pg_terminate_backend(pid) from pg_stat_activity where application_name like 'cdc-engine%' and datname = current_database()) t`;
  expect(cut[0].n).toBeGreaterThan(0);
  await src.unsafe(`delete from big where id <= ${copied} and id % 89 = 0`);
  await src.unsafe(`insert into big select g, g % 10, g % 7, 'late' from generate_series(${ROWS + 1}, ${ROWS + 500}) g`);
  await src.unsafe(`update big set v = v + 100 where id % 1000 = 0`);
  await src.unsafe(`delete from big where id % 997 = 0`);

  const want = (await src`select count(*)::int as n, sum(v)::int8::text as s, sum(id)::text as ids from big`)[0];
  await waitFor("the mirror caught up", async () => {
    if (serve.proc?.exitCode != null) return true; // failed below, with the logs
    const got = (await wh`select count(*)::int as n, sum(v)::int8::text as s, sum(id)::text as ids from big`.catch(() => [{ n: -1, s: null, ids: null }]))[0];
    return got.n === want.n && got.s === want.s && got.ids === want.ids;
  }, 120_000, () => serve.logs);
  expect(serve.proc?.exitCode ?? null, serve.logs.slice(-3000)).toBeNull();
  const groups = await src`select k, count(*)::int8::text as n, sum(v)::int8::text as total from big group by k order by k`;
  await waitFor("the GROUP BY caught up", async () => {
    const got = await wh`select k, n::text as n, total::text as total from per_k order by k`.catch(() => []);
    return JSON.stringify(got) === JSON.stringify(groups);
  }, 60_000, () => serve.logs);
  // No checkpoint yet when it was cut: the slot was made again, after handing over its deletes.
  expect(serve.logs).toMatch(/holds \d+ deletes or truncates( and \d+ updated rows)?: they are applied before the snapshot is taken again/);
  const status = (await serve.status()) as { engine: { state: string; restarts: number } };
  expect(status.engine.state).toBe("running");
  expect(status.engine.restarts).toBeGreaterThanOrEqual(1);
  expect(serve.proc?.exitCode).toBeNull();
  expect(await serve.stop()).toBe(0);
  // The removals were kept in the state dir until a checkpoint after them was stored, then dropped.
  const state = new Database(join(serve.env.CDC_STATE_DIR!, "source-snapshot.sqlite"), { readonly: true });
  expect(state.query("select count(*) as n from pending_removals").get()).toEqual({ n: 0 });
  state.close();
}, 240_000);
