/**
 * A pipeline added to a deployment that already streams gets the rows already in its tables
 * (compiled binary): its tables are read for it alone in a temporary slot's snapshot while
 * pgbench writes on, it skips the stream's changes before that snapshot, and the pipelines
 * that were there see nothing of it. Before, a new pipeline only got changes from its first
 * start on (a warning said so).
 */
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { Engine, mirrorConfig, pgbench, verify, waitCaughtUp } from "./e2e.ts";

test("new pipelines (a mirror of a keyless table, a GROUP BY) are backfilled once while writes run", async () => {
  const pg = await sharedPg("system");
  const [src, dst, dst2] = [await createDatabase(pg, "bf_src"), await createDatabase(pg, "bf_dst"), await createDatabase(pg, "bf_dst2")];
  const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
  const out = postgres(pg.url(dst2), { max: 1, onnotice: () => {} });
  await sql.unsafe(`create table orders (id int primary key, status text, amount numeric(12,2));
    create table events (id int, v int);
    insert into orders select g, case when g % 7 = 0 then null else 's' || (g % 3) end, g * 1.25 from generate_series(1, 3000) g;
    insert into events select g, 1 from generate_series(1, 2000) g;`);
  const s = await mirrorConfig(pg.url(src), pg.url(dst), ["public.orders", "public.events"]);
  const engine = new Engine(s);
  try {
    await engine.start();
    await engine.snapshotDone(["public.orders", "public.events"]);
    await sql.unsafe("insert into events select g, 2 from generate_series(2001, 2500) g; update orders set amount = amount + 1 where id <= 100");
    await waitCaughtUp(pg.url(src), pg.url(dst), 60_000);
    expect(await engine.kill("SIGTERM")).toBe(0);

    // More rows while stopped, then two new pipelines into a second database.
    await sql.unsafe("insert into events select g, 3 from generate_series(2501, 3000) g; delete from orders where id between 2901 and 3000");
    const text = readFileSync(s.config, "utf8")
      .replace(/sinks:\n/, `sinks:\n  wh2: { type: postgres, url: "${pg.url(dst2)}", batch_delay: 50ms }\n`)
      .concat(`  - name: events_copy
    from: public.events
    to: { sink: wh2, table: events_copy }
  - name: by_status
    from: public.orders
    select: ["status", "amount"]
    group_by: [status]
    aggregate: { n: "COUNT(*)", total: "SUM(amount)" }
    to: { sink: wh2, table: by_status }
`);
    writeFileSync(s.config, text);
    const script = join(mkdtempSync(join(tmpdir(), "cdc-bf-")), "w.sql");
    writeFileSync(script, "\\set id random(1, 1000000000)\ninsert into events values (:id, 4);\n\\set o random(1, 2900)\nupdate orders set amount = amount + 1, status = case when status is null then 's9' else status end where id = :o;\n");
    const load = pgbench(["-n", "-f", script, "-c", "2", "-R", "300", "-T", "6"], pg.url(src));
    await Bun.sleep(1000);
    await engine.start(); // the two new pipelines are read for alone while the writes go on
    expect((await load).code).toBe(0);
    await waitCaughtUp(pg.url(src), pg.url(dst), 120_000);
    await waitFor(async () => {
      const [a] = await sql`select count(*)::int as n from events`;
      const [b] = await out`select count(*)::int as n from events_copy`.catch(() => [{ n: -1 }]);
      return a.n === b.n;
    });
    // The keyless table: every row once, as a multiset.
    const bag = async (db: postgres.Sql, t: string) => (await db.unsafe(`select id, v, count(*)::int as c from ${t} group by 1, 2 order by 1, 2`)).map((r) => `${r.id}:${r.v}x${r.c}`).join(",");
    expect(await bag(out, "events_copy")).toBe(await bag(sql, "events"));
    // The GROUP BY equals SQL's over the source, the NULL status group included.
    const want = await sql`select coalesce(status, '<null>') as s, count(*)::int as n, sum(amount)::text as total from orders group by status order by 1`;
    await waitFor(async () => {
      const got = await out`select coalesce(status, '<null>') as s, n::int as n, total::text as total from by_status order by 1`.catch(() => []);
      return JSON.stringify(got) === JSON.stringify(want);
    });
    // The old pipeline is untouched by the backfill (its mirror still equals the source), and verify sees the new copy equal too.
    const v = await verify(s.config);
    expect(v.stdout).toContain("all 3 table(s) equal");
    const log = readFileSync(s.logFile, "utf8");
    expect(log).toContain("new pipeline(s) 'events_copy', 'by_status'");
    expect(log).toContain("backfill of public.events done");
    expect(await engine.kill("SIGTERM")).toBe(0);

    // A restart backfills nothing again.
    const before = readFileSync(s.logFile, "utf8").length;
    await engine.start();
    await engine.health();
    await waitFor(async () => (await engine.health()).code === 200);
    await sql.unsafe("insert into events values (9, 9)");
    await waitFor(async () => (await out`select count(*)::int as n from events_copy where id = 9 and v = 9`)[0].n === 1);
    expect(readFileSync(s.logFile, "utf8").slice(before)).not.toContain("new pipeline(s)");
    expect(await engine.kill("SIGTERM")).toBe(0);
  } finally {
    if (engine.proc) await engine.kill();
    await sql.end();
    await out.end();
  }
}, 300_000);

test("a backfill cut by kill -9 is read again whole at the next start: the GROUP BY counts every row once", async () => {
  const pg = await sharedPg("system");
  const [src, dst] = [await createDatabase(pg, "bfk_src"), await createDatabase(pg, "bfk_dst")];
  const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
  const out = postgres(pg.url(dst), { max: 1, onnotice: () => {} });
  await sql.unsafe(`create table orders (id int primary key, status text, amount numeric(12,2));
    insert into orders select g, 's' || (g % 5), g * 0.5 from generate_series(1, 200000) g;`);
  const s = await mirrorConfig(pg.url(src), pg.url(dst), ["public.orders"]);
  writeFileSync(s.config, readFileSync(s.config, "utf8").replace("heartbeat_interval: 1s", "heartbeat_interval: 1s\n  snapshot_chunk_size: 500"));
  const engine = new Engine(s);
  try {
    await engine.start();
    await engine.snapshotDone(["public.orders"], 120_000);
    expect(await engine.kill("SIGTERM")).toBe(0);
    writeFileSync(s.config, readFileSync(s.config, "utf8").concat(`  - name: by_status
    from: public.orders
    group_by: [status]
    aggregate: { n: "COUNT(*)", total: "SUM(amount)" }
    to: { sink: wh, table: by_status }
`));
    await engine.start();
    // Killed in the read (or just after it, before a checkpoint stored it as done).
    await waitFor(async () => engine.log().includes("backfill of 1 table(s)"), 120_000, 10);
    await Bun.sleep(300);
    await engine.kill("SIGKILL");
    await sql.unsafe("update orders set amount = amount + 1 where id <= 10; delete from orders where id > 199990");
    const before = engine.log().length;
    await engine.start();
    const want = await sql`select status, count(*)::int as n, sum(amount)::text as total from orders group by status order by 1`;
    await waitFor(async () => {
      const got = await out`select status, n::int as n, total::text as total from by_status order by 1`.catch(() => []);
      return JSON.stringify(got) === JSON.stringify(want);
    }, 120_000);
    expect(engine.log().slice(before)).toContain("new pipeline(s) 'by_status'");
    expect(engine.log().slice(before)).toContain("backfill of public.orders done");
    expect(await engine.kill("SIGTERM")).toBe(0);
  } finally {
    if (engine.proc) await engine.kill();
    await sql.end();
    await out.end();
  }
}, 400_000);

async function waitFor(cond: () => Promise<boolean>, ms = 60_000, every = 250): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await Bun.sleep(every);
  }
}
