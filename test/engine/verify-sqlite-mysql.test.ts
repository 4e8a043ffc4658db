/**
 * `verify` against SQLite and MariaDB mirror sinks (compiled binary, real servers): the engine
 * mirrors tables with many column types into both (snapshot and stream), verify finds them
 * equal; after a row is changed, one deleted and one added in each sink, verify names those
 * keys and exits 1. Values whose representation differs per database (int8 beyond 2^53,
 * numeric(30,10), timestamptz with µs, bool, bytea, json, arrays, unicode text, NULLs) must
 * compare equal through the canonical row text, and the text key is chunked in byte order
 * while the source column has an ICU collation.
 */
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import mysql from "mysql2/promise";
import { createDatabase, freePort, mysqlUrl, requireMysql, runBinary, sharedPg } from "../helpers/index.ts";
import { Engine, type MirrorSetup } from "./e2e.ts";

const DDL = `
  create table typed (
    id int8 primary key, n numeric(30,10), u numeric, ts timestamptz, t timestamp, d date, tm time,
    b bool, by bytea, j jsonb, js json, tx text, vc varchar(20), ch char(5), arr int8[], tarr text[],
    f8 float8, f4 float4, i4 int4, i2 int2, uid uuid, ip inet);
  create table named (k text collate "en-x-icu", n int4, v text, primary key (k, n));
  create table nokey (a int4, b text);`;

/** Rows g in [lo, hi] of typed, plus the named and keyless rows for the same g. */
const rows = (lo: number, hi: number) => `
  insert into typed select g, 12345678901234567890.0123456789 / g, g * 1.5, '2024-02-28 23:59:59.999999+00'::timestamptz + g * interval '1 day 1.000001 second',
    '2024-01-01 00:00:00.5'::timestamp + g * interval '1 minute', date '2024-01-01' + g, time '12:34:56.789' + g * interval '1 second', g % 2 = 0,
    decode(md5(g::text), 'hex'), jsonb_build_object('a', g, 'big', 12345678901234567890, 's', 'x"y', 'nested', jsonb_build_array(1.50, null, true)),
    ('{"b": ' || g || ',  "a": [1, 2]}')::json, 'O''Brien "q" \\ ünï 🎉 ' || g, 'v' || g, 'c' || (g % 10), array[g, 9007199254740993], array['a"b', 'c,d', null],
    g / 3.0, g * 1.25, g * 1000, g, md5(g::text)::uuid, case when g % 2 = 0 then '::1'::inet else ('10.0.0.' || g)::inet end
  from generate_series(${lo}, ${hi}) g;
  insert into named select k, g, 'v' || g from unnest(array['a', 'B', 'é', 'Z', 'ab', '🎉', 'a b', 'A', 'z', 'Ä']) k, generate_series(${lo}, ${hi}) g where g <= 3;
  insert into nokey select g % 4, 'b' || (g % 3) from generate_series(${lo}, ${hi}) g;`;

const EXTREMES = `insert into typed (id, n, u, tx, ts, arr) values
  (9007199254740993, -99999999999999999999.9999999999, 0.000000000000000000000000000001, 'beyond 2^53', '1999-12-31 23:59:59.000001+00', array[-9223372036854775808]),
  (9223372036854775807, 0, -0.5, '', '2000-01-01 00:00:00+00', '{}'),
  (-9223372036854775808, null, null, null, null, null),
  (-9007199254740993, 1, 1e20, E'tab\\there\\nnewline', '2038-01-19 03:14:07.999999+00', array[1]);`;

describe("verify: sqlite and mysql mirror sinks", () => {
  test("equal after mirroring many column types; a changed, a missing and an extra row are reported by key, exit 1", async () => {
    const my = await requireMysql();
    const pg = await sharedPg("system");
    const src = await createDatabase(pg, "vsm_src");
    const s = postgres(pg.url(src), { max: 1, onnotice: () => {} });
    await s.unsafe(DDL);
    await s.unsafe(rows(1, 20));
    await s.unsafe(EXTREMES);
    const dir = mkdtempSync(join(tmpdir(), "cdc-verify-sm-"));
    const lite = join(dir, "lite.db");
    const myDb = `cdc_vsm_${Math.random().toString(36).slice(2, 10)}`;
    const port = await freePort();
    const slot = `vsm_${Math.random().toString(36).slice(2, 10)}`;
    const cfg: MirrorSetup = { dir, config: join(dir, "cdc.yaml"), port, logFile: join(dir, "engine.log") };
    writeFileSync(
      cfg.config,
      `source: { url: "${pg.url(src)}", slot: ${slot}, publication: ${slot}, heartbeat_interval: 1s }
state: { dir: "${join(dir, "state")}", checkpoint_interval: 1s }
api: { listen: "127.0.0.1:${port}" }
sinks:
  lite: { type: sqlite, path: "${lite}", batch_delay: 20ms }
  maria: { type: mysql, url: "${my}", database: ${myDb} }
pipelines:
  - { name: tolite, from: [public.typed, public.named, public.nokey], to: lite }
  - { name: tomaria, from: [public.typed, public.named, public.nokey], to: maria }
`,
    );
    const engine = new Engine(cfg);
    let maria: mysql.Connection | null = null;
    try {
      await engine.start();
      await engine.snapshotDone(["public.typed", "public.named", "public.nokey"]);
      // The rest through the stream: inserts, an update and a delete.
      await s.unsafe(rows(21, 40));
      await s.unsafe(`update typed set tx = 'updated ✓', j = '{"z": 1, "a": [true, false]}', b = null where id = 7; delete from typed where id = 8; update named set v = 'w' where k = 'é' and n = 2`);

      const ok = await runBinary(["verify", "--config", cfg.config, "--chunk-rows", "7", "--wait", "60"], { timeoutMs: 120_000 });
      expect(ok.stdout).toMatch(/tolite\s+lite\s+public\.typed\s+43\s+43\s+equal/);
      expect(ok.stdout).toMatch(/tomaria\s+maria\s+public\.typed\s+43\s+43\s+equal/);
      expect(ok.stdout).toMatch(/tolite\s+lite\s+public\.named\s+30\s+30\s+equal/);
      expect(ok.stdout).toMatch(/tomaria\s+maria\s+public\.nokey\s+40\s+40\s+equal/);
      expect(ok.stdout).toContain("all 6 table(s) equal");
      expect(ok.code).toBe(0);
      expect(await engine.kill("SIGTERM")).toBe(0);

      // Make each sink differ: a changed row (beyond 2^53), a missing one, an extra one; a changed
      // row under the text key; one more copy of a keyless row.
      const db = new Database(lite);
      db.run("update typed set n = '1.0000000001' where id = 9007199254740993");
      db.run("delete from typed where id = 5");
      db.run("insert into typed (id) values (1000)");
      db.run("update named set v = 'x' where k = 'é' and n = 2");
      db.run("insert into nokey values (1, 'b1')");
      db.close();
      maria = await mysql.createConnection({ uri: `${mysqlUrl()}/${myDb}`, supportBigNumbers: true, bigNumberStrings: true });
      await maria.query("update typed set ts = '2024-01-01 00:00:00.000002' where id = 9007199254740993");
      await maria.query("delete from typed where id = 5");
      await maria.query("insert into typed (id) values (1000)");
      await maria.query("update named set v = 'x' where k = 'é' and n = 2");
      await maria.query("insert into nokey values (1, 'b1')");

      const bad = await runBinary(["verify", "--config", cfg.config, "--chunk-rows", "7", "--wait", "0"], { timeoutMs: 120_000 });
      expect(bad.code).toBe(1);
      for (const p of ["tolite", "tomaria"]) {
        expect(bad.stdout).toMatch(new RegExp(`${p}\\s+\\S+\\s+public\\.typed\\s+43\\s+43\\s+DIFFERENT`));
        const keys = new RegExp(`${p} public\\.typed: differing keys: (.*)`).exec(bad.stdout)?.[1].split(" ").sort();
        expect(keys).toEqual(["(1000)", "(5)", "(9007199254740993)"]);
        expect(bad.stdout).toContain(`${p} public.named: differing keys: (é,2)`);
        expect(bad.stdout).toMatch(new RegExp(`${p}\\s+\\S+\\s+public\\.nokey\\s+40\\s+41\\s+DIFFERENT`));
        expect(bad.stdout).toContain(`${p} public.nokey: differing keys: (1,b1)`);
      }
      expect(bad.stdout).toContain("6 table(s) differ");
    } finally {
      if (engine.proc) await engine.kill();
      await s.end();
      await maria?.end();
      // Also when the test failed before connecting: the engine created the database.
      const admin = await mysql.createConnection({ uri: mysqlUrl() });
      await admin.query(`drop database if exists ${myDb}`);
      await admin.end();
    }
  }, 300_000);
});
