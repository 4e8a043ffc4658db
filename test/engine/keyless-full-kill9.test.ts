/**
 * Exactly-once for a keyless REPLICA IDENTITY FULL table under SIGKILL (compiled binary): the
 * table holds many equal rows, and transactions insert, update and delete one of them or all of a
 * kind while the engine is killed and restarted. A transaction replayed after a kill must not
 * delete or change a second equal row: each sink's batch commits with its position, and a replay
 * at or below it is skipped. The postgres, sqlite and MariaDB copies equal the source as multisets.
 */
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import mysql from "mysql2/promise";
import { createDatabase, freePort, mysqlUrl, requireMysql, runBinary, sharedPg } from "../helpers/index.ts";
import { Engine, waitCaughtUp, type MirrorSetup } from "./e2e.ts";

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
  const my = await requireMysql();
  const pg = await sharedPg("system");
  const [src, dst] = [await createDatabase(pg, "kfk_src"), await createDatabase(pg, "kfk_dst")];
  const sql = postgres(pg.url(src), { max: 2, onnotice: () => {} });
  const out = postgres(pg.url(dst), { max: 1, onnotice: () => {} });
  const dir = mkdtempSync(join(tmpdir(), "cdc-kfk-"));
  const lite = join(dir, "lite.db");
  const myDb = `cdc_kfk_${Math.random().toString(36).slice(2, 10)}`;
  const slot = `kfk_${Math.random().toString(36).slice(2, 10)}`;
  const cfg: MirrorSetup = { dir, config: join(dir, "cdc.yaml"), port: await freePort(), logFile: join(dir, "engine.log") };
  writeFileSync(
    cfg.config,
    `source: { url: "${pg.url(src)}", slot: ${slot}, publication: ${slot}, heartbeat_interval: 1s }
state: { dir: "${join(dir, "state")}", checkpoint_interval: 2s }
api: { listen: "127.0.0.1:${cfg.port}" }
sinks:
  wh: { type: postgres, url: "${pg.url(dst)}", batch_delay: 30ms }
  lite: { type: sqlite, path: "${lite}", batch_delay: 30ms }
  maria: { type: mysql, url: "${my}", database: ${myDb} }
pipelines:
  - { name: mirror, from: [public.kc], to: wh }
  - { name: tolite, from: [public.kc], to: lite }
  - { name: tomaria, from: [public.kc], to: maria }
`,
  );
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
    await waitCaughtUp(pg.url(src), pg.url(dst), 120_000);
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
    await sql.end();
    await out.end();
    const admin = await mysql.createConnection({ uri: mysqlUrl() });
    await admin.query(`drop database if exists ${myDb}`);
    await admin.end();
  }
}, 300_000);
