/**
 * `cdc-engine dlq replay` killed (-9) while it re-sends rows of a table without a key. A replay
 * writes a row to the sink, then removes the entry from the queue; a kill between the two left
 * the entry queued although the sink had the row, and the next replay appended it a second time
 * (QA: 1 row twice in 600 after 22 kills into the postgres sink). Now the attempt is noted before
 * the write and a noted append is held back (listed, never sent blind); keyed rows are upserts
 * and are simply sent again.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DlqStore } from "../../src/dlq/store.ts";
import postgres from "postgres";
import { binaryPath, createDatabase, runBinary, sharedPg } from "../helpers/index.ts";
import { col, OID, rec, table } from "../sinks/helpers.ts";

const N = 300;

async function setup() {
  const pg = await sharedPg("system");
  const url = pg.url(await createDatabase(pg, "qa_dlq_kill"));
  const dir = mkdtempSync(join(tmpdir(), "qa-dlq-kill-"));
  const state = join(dir, "state");
  const cfg = join(dir, "cdc.yaml");
  writeFileSync(cfg, `source: {url: "postgres://u@127.0.0.1:1/db"}\nstate: {dir: "${state}"}\nsinks:\n  lite: {type: postgres, url: "${url}"}\npipelines:\n  - {name: log, from: public.log, to: lite}\n  - {name: kv, from: public.kv, to: lite}\n`);
  const log = table("log", [col("id", OID.int8), col("v", OID.text)], []); // no key: appended
  const kv = table("kv", [col("id", OID.int8, { key: true }), col("v", OID.text)], ["id"]);
  const store = new DlqStore(state);
  store.db.transaction(() => {
    for (let i = 1; i <= N; i++) store.putRecord(i % 2 ? "log" : "kv", "lite", rec(i % 2 ? log : kv, "upsert", { id: BigInt(i), v: `v${i}` }, BigInt(1000 + i)), "refused");
  })();
  store.close();
  const sink = postgres(url, { max: 1, onnotice: () => {} });
  // A commit that takes 30 ms (a deferred trigger) widens the moment between the sink's commit and
  // the queue's removal, so that the kills below land there often.
  await sink.unsafe(`create table log (id int8, v text);
    create function slow() returns trigger language plpgsql as $$ begin perform pg_sleep(0.03); return null; end $$;
    create constraint trigger slow after insert on log deferrable initially deferred for each row execute function slow()`);
  return { dir, state, cfg, sink };
}

test("kill -9 during dlq replay, again and again: no row of the keyless table twice, none lost without a trace", async () => {
  const { dir, state, cfg, sink } = await setup();
  const bin = await binaryPath();
  let kills = 0;
  for (let round = 0; round < 12; round++) {
    const p = Bun.spawn([bin, "dlq", "replay", "--config", cfg], { cwd: dir, stdout: "ignore", stderr: "ignore" });
    const timer = setTimeout(() => p.kill("SIGKILL"), 250 + Math.random() * 500);
    const code = await p.exited;
    clearTimeout(timer);
    if (code === 0) break;
    kills++;
  }
  const last = await runBinary(["dlq", "replay", "--config", cfg], { cwd: dir });
  expect(last.code).toBe(0);
  const [logRows] = await sink.unsafe(`select count(*)::int n, count(distinct id)::int d from log`);
  const [kvRows] = await sink.unsafe(`select count(*)::int n from kv`);
  const inSink = new Set((await sink.unsafe(`select id::int from log`)).map((r) => Number(r.id)));
  await sink.end();
  const store = new DlqStore(state);
  const left = store.list();
  store.close();
  console.log(`[qa-crash dlq replay] ${kills} kills; log ${logRows.n} rows, kv ${kvRows.n}, held back ${left.length}`);
  expect(kills).toBeGreaterThanOrEqual(3);
  expect(logRows.n).toBe(logRows.d); // never twice
  expect(kvRows.n).toBe(N / 2); // keyed: all there
  // What is left is only the appends whose replay was cut, each listed as such; every row is in the
  // sink or held back (some held-back ones are in the sink too: the operator checks).
  expect(left.every((e) => e.replayCut && e.pipeline === "log")).toBe(true);
  const held = new Set(left.map((e) => Number(e.row.id)));
  for (let id = 1; id <= N; id += 2) expect(inSink.has(id) || held.has(id)).toBe(true);
  for (const e of left) expect(last.stdout).toContain(`#${e.id} skipped: an earlier replay of it was cut off`);
}, 60_000);

test("an append whose replay was cut is held back and listed; one refused for its data is sent again", async () => {
  const { dir, state, cfg, sink } = await setup();
  const store = new DlqStore(state);
  const [first, second] = store.list({ pipeline: "log", limit: 2 });
  store.markReplayStarted(first.id, true);
  store.close();
  const list = await runBinary(["dlq", "list", "--config", cfg, "--pipeline", "log", "--limit", "1"], { cwd: dir });
  expect(list.stdout).toContain("(a replay of it was cut off: replay holds it back");
  const r = await runBinary(["dlq", "replay", "--config", cfg], { cwd: dir });
  expect(r.stdout).toContain(`replayed ${N - 1}, superseded 0, still failing 0, skipped 1`);
  expect(r.stdout).toContain(`#${first.id} skipped: an earlier replay of it was cut off`);
  const count = async (id: unknown) => (await sink.unsafe(`select count(*)::int n from log where id = ${Number(id)}`))[0].n;
  expect([await count(second.row.id), await count(first.row.id)]).toEqual([1, 0]);
  await sink.end();
}, 60_000);
