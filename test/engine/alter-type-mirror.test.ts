/**
 * A source column retyped to a wider type (`ALTER TABLE ... ALTER COLUMN ... TYPE bigint`) while
 * a mirror runs: values past the old type's range must land in the sinks, not in the dead-letter
 * queue ("value out of range for type smallint", "Out of range value for column"). The sink
 * columns are widened; nothing is narrowed. Compiled binary, postgres + MariaDB + SQLite sinks.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import mysql from "mysql2/promise";
import { Database } from "bun:sqlite";
import { createDatabase, freePort, requireMysql, runBinary, sharedPg } from "../helpers/index.ts";
import { Engine, waitCaughtUp } from "./e2e.ts";

const mdb = `cdc_alter_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
let admin: mysql.Connection | null = null;
afterAll(async () => {
  await admin?.query(`DROP DATABASE IF EXISTS \`${mdb}\``);
  await admin?.end();
});

describe("ALTER COLUMN ... TYPE on the source (compiled binary)", () => {
  test("widened columns are widened in the sink tables the engine created (mysql and postgres while running, every sink at the next start); a table the user created keeps its type", async () => {
    const murl = await requireMysql();
    admin = await mysql.createConnection({ uri: murl, supportBigNumbers: true, bigNumberStrings: true });
    const pg = await sharedPg("system");
    const [src, dst] = [await createDatabase(pg, "alt_src"), await createDatabase(pg, "alt_dst")];
    const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
    const out = postgres(pg.url(dst), { max: 1, onnotice: () => {} });
    const dir = mkdtempSync(join(tmpdir(), "cdc-alter-"));
    const port = await freePort();
    const config = join(dir, "cdc.yaml");
    writeFileSync(
      config,
      `source: { url: "${pg.url(src)}", slot: alt_${process.pid}, publication: alt_${process.pid}, heartbeat_interval: 1s }
state: { dir: "${join(dir, "state")}", checkpoint_interval: 1s }
api: { listen: "127.0.0.1:${port}" }
sinks:
  wh: { type: postgres, url: "${pg.url(dst)}", batch_delay: 20ms }
  mart: { type: mysql, url: "${murl}", database: ${mdb} }
  lite: { type: sqlite, path: "${join(dir, "out.sqlite")}" }
pipelines:
  - { name: mirror, from: [public.t, public.u, public.r], to: wh }
  - { name: m_my, from: [public.t, public.r], to: mart }
  - { name: m_lite, from: [public.t, public.r], to: lite }
`,
    );
    const engine = new Engine({ dir, config, port, logFile: join(dir, "engine.log") });
    try {
      await sql.unsafe(`create table t (id int primary key, n int2, v varchar(3), d numeric(5,2)); insert into t values (1, 1, 'abc', 1.25)`);
      await sql.unsafe(`create table r (id int primary key, n int2, v varchar(3)); insert into r values (1, 1, 'abc')`);
      // A sink table the user created, narrower on purpose: it keeps its type, the value goes to the DLQ.
      await sql.unsafe(`create table u (id int primary key, n int8)`);
      await out.unsafe(`create table u (id int primary key, n smallint)`);
      await engine.start();
      await engine.snapshotDone(["public.t", "public.r", "public.u"]);
      // Retyped while the engine runs: the mysql and postgres sinks widen at once.
      await sql.unsafe(`alter table r alter column n type int8, alter column v type varchar(20)`);
      await sql.unsafe(`insert into r values (2, 9000000000, 'a longer value')`);
      const myRows = async (table: string) => ((await admin!.query(`SELECT id, n, v${table === "t" ? ", d" : ""} FROM \`${mdb}\`.${table} ORDER BY id`))[0] as Record<string, unknown>[]).map((x) => Object.values(x).join("|"));
      const liteRows = (table: string) => {
        const db = new Database(join(dir, "out.sqlite"), { create: true });
        try {
          return (db.query(`select id, n, v from ${table} order by id`).all() as Record<string, unknown>[]).map((x) => Object.values(x).join("|"));
        } catch {
          return [];
        } finally {
          db.close();
        }
      };
      const until1 = Date.now() + 30_000;
      while (((await myRows("r").catch(() => [])).length < 2 || liteRows("r").length < 2) && Date.now() < until1) await Bun.sleep(100);
      expect(await myRows("r")).toEqual(["1|1|abc", "2|9000000000|a longer value"]);
      expect(liteRows("r")).toEqual(["1|1|abc", "2|9000000000|a longer value"]);
      await waitCaughtUp(pg.url(src), pg.url(dst));
      expect((await out`select id, n, v from r order by id`).map((x) => `${x.id}|${x.n}|${x.v}`)).toEqual(["1|1|abc", "2|9000000000|a longer value"]);
      expect(await engine.kill("SIGTERM")).toBe(0);

      // Retyped while the engine is stopped: every sink widens when it meets the table at the next start.
      await sql.unsafe(`alter table t alter column id type int8, alter column n type int8, alter column v type varchar(20), alter column d type numeric(20,4)`);
      await sql.unsafe(`insert into t values (9000000001, -9000000000, 'after the restart', 1234567890.1234)`);
      await sql.unsafe(`insert into u values (1, 5), (2, 9000000000)`);
      await engine.start();
      await waitCaughtUp(pg.url(src), pg.url(dst));
      const until2 = Date.now() + 30_000;
      while (((await myRows("t").catch(() => [])).length < 2 || liteRows("t").length < 2) && Date.now() < until2) await Bun.sleep(100);

      const want = ["1|1|abc|1.2500", "9000000001|-9000000000|after the restart|1234567890.1234"];
      expect((await out`select id, n, v, d::text as d from t order by id`).map((x) => `${x.id}|${x.n}|${x.v}|${x.d}`)).toEqual(want);
      expect(await myRows("t")).toEqual(want);
      expect(liteRows("t")).toEqual(want.map((w) => w.split("|").slice(0, 3).join("|")));
      expect((await out`select id, n from u order by id`).map((x) => `${x.id}|${x.n}`)).toEqual(["1|5"]);
      const [{ t: userType }] = await out`select format_type(atttypid, atttypmod) as t from pg_attribute where attrelid = 'public.u'::regclass and attname = 'n'`;
      expect(userType).toBe("smallint");
      const dlq = await runBinary(["dlq", "list", "--config", config]);
      expect(dlq.stdout).toContain("1 of 1 dead letter(s)");
      expect(dlq.stdout).toContain("mirror -> wh public.u");
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine.proc) await engine.kill();
      await sql.end();
      await out.end();
    }
  }, 180_000);
});
