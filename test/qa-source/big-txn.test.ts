/**
 * One N-row transaction into a Postgres mirror with source.memory_budget 16MiB: peak RSS
 * (VmHWM) stays flat and the rows are equal. Then a second one (N keyed rows and N/10
 * into a table without a key) with a kill -9 while the sink applies it, and a restart: equal, no
 * row twice (README: the sink's open transaction rolls back, the slot sends the whole transaction again).
 */
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import postgres from "postgres";
import { Engine, mirrorConfig, sourceAndSink, waitCaughtUp } from "../engine/e2e.ts";

function vm(pid: number, key: "VmHWM" | "VmRSS"): number {
  const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Math.round(Number(m![1]) / 1024);
}

async function digest(url: string, table: string): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [r] = await sql.unsafe(`select count(*)::text as n, count(distinct id)::text as d, coalesce(sum(id), 0)::text as s, coalesce(sum(hashtext(v)::bigint), 0)::text as h from ${table}`);
    return `${r.n} rows, ${r.d} distinct ids, sum ${r.s}, hash ${r.h}`;
  } finally {
    await sql.end();
  }
}

/** 500,000 rows (30× the budget) keep the suite short; the QA run used QA_BIG_TXN_ROWS=2000000. */
const N = Number(process.env.QA_BIG_TXN_ROWS ?? 500_000);

test(`${N.toLocaleString("en-US")} rows in one transaction with a 16MiB budget: flat RSS, equal; a kill -9 mid-apply of the next: equal, nothing twice`, async () => {
  const db = await sourceAndSink("qa_bigtx");
  await db.sql`create table big (id bigint primary key, v text)`;
  await db.sql`create table bigk (id bigint, v text)`;
  const s = await mirrorConfig(db.srcUrl, db.dstUrl, ["public.big", "public.bigk"]);
  writeFileSync(s.config, readFileSync(s.config, "utf8").replace("heartbeat_interval: 1s", "heartbeat_interval: 1s\n  memory_budget: 16MiB"));
  const engine = new Engine(s);
  try {
    await engine.start();
    await engine.snapshotDone(["public.big", "public.bigk"]);
    await Bun.sleep(1500);
    const pid = engine.proc!.pid;
    const before = vm(pid, "VmRSS");
    let t0 = performance.now();
    await db.sql`insert into big select g, md5(g::text) from generate_series(1, ${N}::int) g`;
    await waitCaughtUp(db.srcUrl, db.dstUrl, 300_000);
    const secs = (performance.now() - t0) / 1000;
    const peak = vm(pid, "VmHWM");
    console.log(`${N}-row transaction: RSS before ${before} MiB, peak (VmHWM) ${peak} MiB, applied in ${secs.toFixed(1)} s after commit`);
    expect(await digest(db.dstUrl, "big")).toBe(await digest(db.srcUrl, "big"));
    expect(peak).toBeLessThan(300);

    // The next one, killed while the sink holds its open transaction.
    const sink = postgres(db.dstUrl, { max: 1, onnotice: () => {} });
    t0 = performance.now();
    await db.sql.begin(async (t) => {
      // twice the first: its apply lasts long enough to be cut (with 500,000 it was done before the kill)
      await t`insert into big select g, md5(g::text) from generate_series(${N + 1}::int, ${3 * N}::int) g`;
      await t`insert into bigk select g, md5(g::text) from generate_series(1, ${N / 10}::int) g`;
    });
    for (;;) {
      const [r] = await sink`select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and xact_start < now() - interval '1 second'`;
      if (r.n > 0) break;
      if (performance.now() - t0 > 120_000) throw new Error(`the sink never held an open transaction:\n${engine.log().slice(-2000)}`);
      await Bun.sleep(100);
    }
    await engine.kill("SIGKILL");
    const [{ n: mid }] = await sink`select count(*)::int as n from big`;
    console.log(`kill -9 ${((performance.now() - t0) / 1000).toFixed(1)} s after the commit; the sink held ${mid} rows of big (${N} before)`);
    expect(mid).toBe(N); // nothing of the open transaction is visible
    await sink.end();
    await engine.start();
    await waitCaughtUp(db.srcUrl, db.dstUrl, 300_000);
    console.log(`after the restart: peak (VmHWM) ${vm(engine.proc!.pid, "VmHWM")} MiB`);
    expect(await digest(db.dstUrl, "big")).toBe(await digest(db.srcUrl, "big"));
    expect(await digest(db.dstUrl, "bigk")).toBe(await digest(db.srcUrl, "bigk"));
    expect(await engine.kill("SIGTERM")).toBe(0);
  } finally {
    if (engine.proc) await engine.kill();
    await db.end();
  }
}, 600_000);
