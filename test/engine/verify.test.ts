import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import mysql from "mysql2/promise";
import { createDatabase, requireMysql, runBinary, sharedPg } from "../helpers/index.ts";

test("verify: equal tables pass, a changed/missing/extra row is reported by key, exit 1", async () => {
  const pg = await sharedPg("system");
  const [a, b] = [await createDatabase(pg, "src"), await createDatabase(pg, "dst")];
  const schema = `create table t (id int, k text, v numeric, ts timestamptz, j jsonb, primary key (id, k));
    create table "weird""name;drop" (x int);
    insert into t select g, 'k' || g, g * 1.5, '2024-01-01 00:00:00.000001+00', '{"a": 1}' from generate_series(1, 2500) g;
    insert into "weird""name;drop" select g % 7 from generate_series(1, 100) g;`;
  for (const db of [a, b]) {
    const sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
    await sql.unsafe(schema);
    await sql.end();
  }
  const dst = postgres(pg.url(b), { max: 1, onnotice: () => {} });
  await dst.unsafe(`create table cdc_engine_offsets (pipeline text, sink text, lsn numeric(20,0), updated_at timestamptz, primary key (pipeline, sink));
    insert into cdc_engine_offsets values ('m', 'wh', 18446744073709551615, now())`);
  const dir = mkdtempSync(join(tmpdir(), "cdc-verify-"));
  const cfg = join(dir, "cdc.yaml");
  writeFileSync(cfg, `source: { url: "${pg.url(a)}" }
sinks: { wh: { type: postgres, url: "${pg.url(b)}" } }
pipelines:
  - { name: m, from: [public.t, 'public.weird"name;drop'], to: wh }
`);
  const ok = await runBinary(["verify", "--config", cfg, "--chunk-rows", "300"]);
  expect(ok.stdout).toContain("all 2 table(s) equal");
  expect(ok.stdout).toMatch(/public\.t\s+2500\s+2500\s+equal/);
  expect(ok.code).toBe(0);

  await dst.unsafe(`update t set v = 0 where id = 700; delete from t where id = 1999; insert into "weird""name;drop" values (3)`);
  const bad = await runBinary(["verify", "--config", cfg, "--chunk-rows", "300", "--wait", "0"]);
  expect(bad.code).toBe(1);
  expect(bad.stdout).toMatch(/public\.t\s+2500\s+2499\s+DIFFERENT/);
  expect(bad.stdout).toContain("differing keys: (700,k700) (1999,k1999)");
  expect(bad.stdout).toMatch(/weird"name;drop\s+100\s+101\s+DIFFERENT/);
  expect(bad.stdout).toContain("2 table(s) differ");
  await dst.end();
}, 180_000);

test("verify: a generated column (not streamed) is not compared, and public.* lists a partitioned table once, not its partitions", async () => {
  const pg = await sharedPg("system");
  const [a, b] = [await createDatabase(pg, "vsrc"), await createDatabase(pg, "vdst")];
  const src = postgres(pg.url(a), { max: 1, onnotice: () => {} });
  await src.unsafe(`create table gen (id int primary key, a int, b int generated always as (a * 2) stored);
    insert into gen (id, a) select g, g from generate_series(1, 50) g;
    create table parted (id int, region text, primary key (id, region)) partition by list (region);
    create table parted_eu partition of parted for values in ('eu');
    create table parted_us partition of parted for values in ('us');
    insert into parted select g, case when g % 2 = 0 then 'eu' else 'us' end from generate_series(1, 40) g;`);
  await src.end();
  const dst = postgres(pg.url(b), { max: 1, onnotice: () => {} });
  await dst.unsafe(`create table gen (id int primary key, a int);
    insert into gen select g, g from generate_series(1, 50) g;
    create table parted (id int, region text, primary key (id, region));
    insert into parted select g, case when g % 2 = 0 then 'eu' else 'us' end from generate_series(1, 40) g;
    create table cdc_engine_offsets (pipeline text, sink text, lsn numeric(20,0), updated_at timestamptz, primary key (pipeline, sink));
    insert into cdc_engine_offsets values ('m', 'wh', 18446744073709551615, now())`);
  await dst.end();
  const dir = mkdtempSync(join(tmpdir(), "cdc-verify-"));
  const cfg = join(dir, "cdc.yaml");
  writeFileSync(cfg, `source: { url: "${pg.url(a)}" }
sinks: { wh: { type: postgres, url: "${pg.url(b)}" } }
pipelines:
  - { name: m, from: "public.*", to: wh }
`);
  const ok = await runBinary(["verify", "--config", cfg]);
  expect(ok.stdout).toContain("all 2 table(s) equal");
  expect(ok.stdout).toMatch(/public\.parted\s+40\s+40\s+equal/);
  expect(ok.stdout).not.toContain("parted_eu");
  expect(ok.code).toBe(0);
}, 180_000);

/**
 * verify had no lock timeout: a sink table locked by another session (the engine's open
 * transaction, a migration; a MySQL metadata lock) made it wait as long as the lock was held (10
 * minutes were seen). Now each read waits --lock-timeout seconds, then verify stops with one line
 * naming the table, exit 1.
 */
test("verify: a table locked by another session ends verify after --lock-timeout with one line naming it (postgres and mysql sinks)", async () => {
  const my = await requireMysql();
  const pg = await sharedPg("system");
  const [a, b] = [await createDatabase(pg, "vlsrc"), await createDatabase(pg, "vldst")];
  for (const db of [a, b]) {
    const sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
    await sql.unsafe(`create table t (id int primary key, v text); insert into t select g, 'v' || g from generate_series(1, 50) g`);
    await sql.end();
  }
  const dst = postgres(pg.url(b), { max: 1, onnotice: () => {} });
  await dst.unsafe(`create table cdc_engine_offsets (pipeline text, sink text, lsn numeric(20,0), updated_at timestamptz, primary key (pipeline, sink));
    insert into cdc_engine_offsets values ('m', 'wh', 18446744073709551615, now())`);
  const myDb = `cdc_vlock_${Math.random().toString(36).slice(2, 10)}`;
  const admin = await mysql.createConnection({ uri: my });
  await admin.query(`CREATE DATABASE \`${myDb}\``);
  await admin.query(`CREATE TABLE \`${myDb}\`.t (id INT PRIMARY KEY, v LONGTEXT)`);
  await admin.query(`CREATE TABLE \`${myDb}\`.cdc_engine_offsets (pipeline VARCHAR(191), sink VARCHAR(191), lsn BIGINT UNSIGNED, updated_at DATETIME(6), PRIMARY KEY (pipeline, sink))`);
  await admin.query(`INSERT INTO \`${myDb}\`.cdc_engine_offsets VALUES ('m', 'my', 18446744073709551615, NOW())`);
  await admin.query(`INSERT INTO \`${myDb}\`.t SELECT seq, CONCAT('v', seq) FROM \`${myDb}\`.seq_1_to_50`);
  const dir = mkdtempSync(join(tmpdir(), "cdc-verify-lock-"));
  const cfg = join(dir, "cdc.yaml");
  const u = new URL(my);
  writeFileSync(cfg, `source: { url: "${pg.url(a)}" }
sinks:
  wh: { type: postgres, url: "${pg.url(b)}" }
  my: { type: mysql, url: "${u.protocol}//${u.username || "root"}${u.password ? ":" + u.password : ""}@${u.host}", database: ${myDb} }
pipelines:
  - { name: m, from: public.t, to: [wh, my] }
`);
  try {
    const ok = await runBinary(["verify", "--config", cfg, "--lock-timeout", "2"], { timeoutMs: 60_000 });
    expect(ok.stdout).toContain("all 2 table(s) equal");
    expect(ok.code).toBe(0);

    // The postgres sink's table, held by an open transaction.
    let started = Date.now();
    const pgLocked = await dst.begin(async (tx) => {
      await tx.unsafe("lock table t in access exclusive mode");
      return runBinary(["verify", "--config", cfg, "--pipeline", "m", "--lock-timeout", "2"], { timeoutMs: 30_000 });
    });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(pgLocked.stderr.trim()).toBe("cdc-engine: [verify] table public.t (sink) is locked by another session: no lock within 2 s (--lock-timeout 2); the engine's open transaction or a migration may hold it, try again later");
    expect(pgLocked.code).toBe(1);

    // The mysql sink's table under a metadata lock (LOCK TABLES … WRITE); the postgres sink compares first, unlocked.
    await admin.query(`LOCK TABLES \`${myDb}\`.t WRITE`);
    started = Date.now();
    const myLocked = await runBinary(["verify", "--config", cfg, "--lock-timeout", "1"], { timeoutMs: 30_000 });
    await admin.query("UNLOCK TABLES");
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(myLocked.stderr.trim()).toBe("cdc-engine: [verify] table t (sink) is locked by another session: no lock within 1 s (--lock-timeout 1); the engine's open transaction or a migration may hold it, try again later");
    expect(myLocked.code).toBe(1);

    const bad = await runBinary(["verify", "--config", cfg, "--lock-timeout", "0"]);
    expect(bad.stderr.trim()).toBe("cdc-engine: --lock-timeout: must be at least 1 (seconds)");
    expect(bad.code).toBe(2);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS \`${myDb}\``);
    await admin.end();
    await dst.end();
  }
}, 240_000);
