/**
 * `verify --wait` is one budget for the whole run. It was a wait per table: with the engine
 * stopped (its position never reaches the source's LSN), --wait 30 over 3 tables took 90 s in
 * silence (QA: --wait 2 took 6.4 s).
 */
import { expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, runBinary, sharedPg } from "../helpers/index.ts";
import { parseConfig } from "../../src/config/load.ts";
import { verifyConfig } from "../../src/engine/verify.ts";
import { Engine, mirrorConfig, sourceAndSink, waitCaughtUp } from "./e2e.ts";

test("verify: the sink's position never comes; three tables wait one --wait in all, and are compared", async () => {
  const pg = await sharedPg("system");
  const [a, b] = [await createDatabase(pg, "vwait_src"), await createDatabase(pg, "vwait_dst")];
  for (const db of [a, b]) {
    const sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
    await sql.unsafe(`create table t1 (id int primary key); create table t2 (id int primary key); create table t3 (id int primary key);
      insert into t1 select generate_series(1, 10); insert into t2 select generate_series(1, 20); insert into t3 select generate_series(1, 30)`);
    await sql.end();
  }
  // No cdc_engine_offsets in the sink: no position, as with an engine that never ran or is stopped.
  const cfg = parseConfig(`source: { url: "${pg.url(a)}" }
sinks: { wh: { type: postgres, url: "${pg.url(b)}" } }
pipelines:
  - { name: m, from: [public.t1, public.t2, public.t3], to: wh }
`, "verify-wait.yaml", {});
  const started = Date.now();
  const res = await verifyConfig(cfg, { waitMs: 4_000 });
  const took = Date.now() - started;
  expect(res.map((r) => [r.table, r.sourceRows, r.sinkRows, r.equal])).toEqual([
    ["public.t1", 10, 10, true],
    ["public.t2", 20, 20, true],
    ["public.t3", 30, 30, true],
  ]);
  expect(res.every((r) => (r.note ?? "").includes("did not reach"))).toBe(true);
  // One budget of 4 s (the comparing itself takes a fraction of that); per table it was 12 s and more.
  expect(took).toBeLessThan(9_000);
}, 60_000);

// The wait for the sink's position is made once per sink: it was made per table, each lasting up to
// the writer's 1-s position throttle, so 250 tables outran --wait 60 and every table after the
// first ~60 was noted "did not reach" (QA: a public.* mirror of 252 tables, all equal).
test("verify: 40 tables of a running mirror are compared within one short --wait, none noted as not reached", async () => {
  const db = await sourceAndSink("vwait_many");
  const names = Array.from({ length: 40 }, (_, i) => `t${i}`);
  for (const n of names) await db.sql.unsafe(`create table ${n} (id int primary key, v text); insert into ${n} select g, 'v' || g from generate_series(1, 5) g`);
  const s = await mirrorConfig(db.srcUrl, db.dstUrl, ["public.*"]);
  const engine = new Engine(s);
  try {
    await engine.start();
    await engine.snapshotDone(names.map((n) => `public.${n}`));
    await db.sql.unsafe(`update t7 set v = 'changed' where id = 3`);
    await waitCaughtUp(db.srcUrl, db.dstUrl);
    // 8 s in all: the per-table waits (0.2–1 s each) outran it by the 10th to 40th table.
    const r = await runBinary(["verify", "--config", s.config, "--wait", "8"], { timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("all 40 table(s) equal");
    expect(r.stdout).not.toContain("did not reach");
  } finally {
    if (engine.proc) await engine.kill("SIGTERM");
    await db.end();
  }
}, 120_000);
