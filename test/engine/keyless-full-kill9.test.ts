/**
 * Exactly-once for a keyless REPLICA IDENTITY FULL table under SIGKILL (compiled binary): the
 * table holds many equal rows, and transactions insert, update and delete one of them or all of a
 * kind while the engine is killed and restarted. A transaction replayed after a kill must not
 * delete or change a second equal row: each sink's batch commits with its position, and a replay
 * at or below it is skipped. The postgres, sqlite and MariaDB copies equal the source as multisets.
 */
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import type postgres from "postgres";
import mysql from "mysql2/promise";
import { mysqlUrl, runBinary } from "../helpers/index.ts";
import { Engine, waitCaughtUp } from "./e2e.ts";
import { threeSinkMirror } from "./three-sinks.ts";

/** One random transaction on kc: k in 0..9, v in 0..3, so rows repeat a lot. */
function change(sql: postgres.Sql): Promise<unknown> {
  const k = Math.floor(Math.random() * 10);
  const v = Math.floor(Math.random() * 4);
  switch (Math.floor(Math.random() * 5)) {
    case 0:
      return sql`insert into kc select ${k}, ${v} from generate_series(1, 3)`;
    case 1:
      return sql`delete from kc where ctid = (select ctid from kc where k = ${k} limit 1)`;
    case 2:
      return sql`update kc set v = v + 1 where ctid = (select ctid from kc where k = ${k} limit 1)`;
    case 3:
      return sql`update kc set v = ${v} where k = ${k} and v = ${(v + 1) % 4}`; // every equal row
    default:
      return sql.begin(async (tx) => {
        await tx`insert into kc values (${k}, ${v}), (${k}, ${v})`;
        await tx`delete from kc where ctid = (select ctid from kc where k = ${k} and v = ${v} limit 1)`;
      });
  }
}

const multiset = (rows: { k: unknown; v: unknown }[]) => rows.map((r) => `${r.k}:${r.v}`).sort();

test("kill -9 while a keyless FULL table with duplicates is updated and deleted: nothing applied twice in postgres, sqlite and MariaDB", async () => {
  const t = await threeSinkMirror("kfk", "public.kc", { checkpointInterval: "2s", batchDelay: "30ms", srcPool: 2 });
  const { sql, out, cfg, lite, myDb } = t;
  const engine = new Engine(cfg);
  try {
    await sql.unsafe(`create table kc (k int, v int); alter table kc replica identity full; insert into kc select g % 10, g % 4 from generate_series(1, 200) g`);
    await engine.start();
    await engine.snapshotDone(["public.kc"]);
    let stop = false;
    let done = 0;
    const load = (async () => {
      while (!stop) {
        await change(sql);
        done++;
      }
    })();
    let kills = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 14_000) {
      await Bun.sleep(1500 + Math.random() * 1500);
      expect(await engine.kill("SIGKILL")).not.toBe(0);
      kills++;
      await engine.start();
    }
    stop = true;
    await load;
    expect(kills).toBeGreaterThanOrEqual(4);
    expect(done).toBeGreaterThan(100);
    await waitCaughtUp(t.srcUrl, t.dstUrl, 120_000);
    const v = await runBinary(["verify", "--config", cfg.config, "--wait", "60"], { timeoutMs: 120_000 });
    expect(v.stdout).toContain("all 3 table(s) equal");
    expect(v.code).toBe(0);
    const want = multiset(await sql`select k, v from kc`);
    expect(multiset(await out`select k, v from kc`)).toEqual(want);
    const db = new Database(lite, { readonly: true });
    expect(multiset(db.query("select k, v from kc").all() as { k: number; v: number }[])).toEqual(want);
    db.close();
    const c = await mysql.createConnection({ uri: `${mysqlUrl()}/${myDb}` });
    expect(multiset((await c.query("select k, v from kc"))[0] as { k: number; v: number }[])).toEqual(want);
    await c.end();
    // Every change found its row (a change applied twice tends to leave a later one without its row).
    expect(engine.log()).not.toContain("found no row equal to their old row");
    expect(await engine.kill("SIGTERM")).toBe(0);
  } finally {
    if (engine.proc) await engine.kill();
    await t.end();
  }
}, 300_000);
