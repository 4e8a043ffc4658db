import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import mysql from "mysql2/promise";
import { Database } from "bun:sqlite";
import { createDatabase, requireMysql, runBinary, sharedPg } from "../helpers/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { verifyConfig } from "../../src/engine/verify.ts";

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
 * minutes were seen). Then each read waited --lock-timeout seconds and verify stopped at the first
 * locked table, comparing none of the rest, with the timeout set process-wide. Now the locked table
 * is reported "locked, not compared" (exit 1, told apart from a difference in the summary), the
 * other tables are compared, and the timeout is one run's option.
 */
test("verify: a table locked by another session is reported locked, not compared, after --lock-timeout; the other tables are compared (postgres and mysql sinks)", async () => {
  const my = await requireMysql();
  const pg = await sharedPg("system");
  const [a, b] = [await createDatabase(pg, "vlsrc"), await createDatabase(pg, "vldst")];
  const tables = `create table t (id int primary key, v text); insert into t select g, 'v' || g from generate_series(1, 50) g;
    create table u (id int primary key, v text); insert into u select g, 'u' || g from generate_series(1, 30) g;`;
  for (const db of [a, b]) {
    const sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
    await sql.unsafe(tables);
    await sql.end();
  }
  const dst = postgres(pg.url(b), { max: 1, onnotice: () => {} });
  await dst.unsafe(`create table cdc_engine_offsets (pipeline text, sink text, lsn numeric(20,0), updated_at timestamptz, primary key (pipeline, sink));
    insert into cdc_engine_offsets values ('m', 'wh', 18446744073709551615, now())`);
  const myDb = `cdc_vlock_${Math.random().toString(36).slice(2, 10)}`;
  const admin = await mysql.createConnection({ uri: my });
  await admin.query(`CREATE DATABASE \`${myDb}\``);
  for (const [t, n, pre] of [["t", 50, "v"], ["u", 30, "u"]] as const) {
    await admin.query(`CREATE TABLE \`${myDb}\`.${t} (id INT PRIMARY KEY, v LONGTEXT)`);
    await admin.query(`INSERT INTO \`${myDb}\`.${t} SELECT seq, CONCAT('${pre}', seq) FROM \`${myDb}\`.seq_1_to_${n}`);
  }
  await admin.query(`CREATE TABLE \`${myDb}\`.cdc_engine_offsets (pipeline VARCHAR(191), sink VARCHAR(191), lsn BIGINT UNSIGNED, updated_at DATETIME(6), PRIMARY KEY (pipeline, sink))`);
  await admin.query(`INSERT INTO \`${myDb}\`.cdc_engine_offsets VALUES ('m', 'my', 18446744073709551615, NOW())`);
  const dir = mkdtempSync(join(tmpdir(), "cdc-verify-lock-"));
  const cfg = join(dir, "cdc.yaml");
  const u = new URL(my);
  writeFileSync(cfg, `source: { url: "${pg.url(a)}" }
sinks:
  wh: { type: postgres, url: "${pg.url(b)}" }
  my: { type: mysql, url: "${u.protocol}//${u.username || "root"}${u.password ? ":" + u.password : ""}@${u.host}", database: ${myDb} }
pipelines:
  - { name: m, from: [public.t, public.u], to: [wh, my] }
`);
  const lockedNote = (table: string, s: number) => `locked, not compared: table ${table} (sink) is locked by another session: no lock within ${s} s (--lock-timeout ${s}); the engine's open transaction or a migration may hold it, try again later`;
  try {
    const ok = await runBinary(["verify", "--config", cfg, "--lock-timeout", "2"], { timeoutMs: 60_000 });
    expect(ok.stdout).toContain("all 4 table(s) equal");
    expect(ok.code).toBe(0);

    // The postgres sink's t, held by an open transaction: u and the mysql sink's tables are still compared.
    let started = Date.now();
    const [pgLocked, inProcess] = await dst.begin(async (tx) => {
      await tx.unsafe("lock table t in access exclusive mode");
      const run = await runBinary(["verify", "--config", cfg, "--lock-timeout", "2"], { timeoutMs: 30_000 });
      // The timeout is the run's option, not the process's: in-process runs with two values say each.
      const one = await verifyConfig(loadConfig(cfg), { pipeline: "m", lockTimeoutMs: 1000 });
      const three = await verifyConfig(loadConfig(cfg), { pipeline: "m", lockTimeoutMs: 3000 });
      return [run, [one, three]] as const;
    });
    expect(Date.now() - started).toBeLessThan(25_000);
    expect(`exit ${pgLocked.code}\n${pgLocked.stdout}${pgLocked.stderr}`).toStartWith("exit 1\n");
    expect(pgLocked.stderr).toBe("");
    expect(pgLocked.stdout).toMatch(/m\s+wh\s+public\.t\s+-\s+-\s+LOCKED/);
    expect(pgLocked.stdout).toMatch(/m\s+wh\s+public\.u\s+30\s+30\s+equal/);
    expect(pgLocked.stdout).toMatch(/m\s+my\s+public\.t\s+50\s+50\s+equal/);
    expect(pgLocked.stdout).toMatch(/m\s+my\s+public\.u\s+30\s+30\s+equal/);
    expect(pgLocked.stdout).toContain(`m public.t: ${lockedNote("public.t", 2)}`);
    expect(pgLocked.stdout).toContain("1 table(s) locked, not compared (try again later)");
    expect(pgLocked.stdout).not.toContain("differ");
    for (const [results, s] of [[inProcess[0], 1], [inProcess[1], 3]] as const) {
      const t = results.find((r) => r.sink === "wh" && r.table === "public.t")!;
      expect(t.locked).toBe(true);
      expect(t.note).toBe(lockedNote("public.t", s));
    }

    // The mysql sink's t under a metadata lock (LOCK TABLES … WRITE): its u and the postgres sink's tables are compared.
    await admin.query(`LOCK TABLES \`${myDb}\`.t WRITE`);
    started = Date.now();
    const myLocked = await runBinary(["verify", "--config", cfg, "--lock-timeout", "1"], { timeoutMs: 30_000 });
    await admin.query("UNLOCK TABLES");
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(myLocked.code).toBe(1);
    expect(myLocked.stdout).toMatch(/m\s+my\s+public\.t\s+-\s+-\s+LOCKED/);
    expect(myLocked.stdout).toMatch(/m\s+my\s+public\.u\s+30\s+30\s+equal/);
    expect(myLocked.stdout).toMatch(/m\s+wh\s+public\.t\s+50\s+50\s+equal/);
    expect(myLocked.stdout).toContain(`m public.t: ${lockedNote("t", 1)}`);

    // A difference and a lock at once: both named, exit 1.
    await dst.unsafe("update u set v = 'changed' where id = 7");
    const both = await dst.begin(async (tx) => {
      await tx.unsafe("lock table t in access exclusive mode");
      return runBinary(["verify", "--config", cfg, "--pipeline", "m", "--lock-timeout", "1", "--wait", "0"], { timeoutMs: 30_000 });
    });
    expect(both.code).toBe(1);
    expect(both.stdout).toContain("1 table(s) differ; 1 table(s) locked, not compared (try again later)");

    const bad = await runBinary(["verify", "--config", cfg, "--lock-timeout", "0"]);
    expect(bad.stderr.trim()).toBe("cdc-engine: --lock-timeout: expected a positive integer, got '0'");
    expect(bad.code).toBe(2);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS \`${myDb}\``);
    await admin.end();
    await dst.end();
  }
}, 240_000);

/** A SQLite sink file another connection holds locked answered SQLITE_BUSY at once (verify failed); now it waits --lock-timeout, then is reported locked. */
test("verify: a sqlite sink file locked by another connection is reported locked, not compared, after --lock-timeout", async () => {
  const pg = await sharedPg("system");
  const a = await createDatabase(pg, "vqsrc");
  const src = postgres(pg.url(a), { max: 1, onnotice: () => {} });
  await src.unsafe("create table t (id int primary key, v text); insert into t select g, 'v' || g from generate_series(1, 20) g");
  await src.end();
  const dir = mkdtempSync(join(tmpdir(), "cdc-verify-qlock-"));
  const file = join(dir, "sink.db");
  const db = new Database(file);
  db.run("pragma journal_mode = delete"); // a rollback journal: a writer's exclusive lock keeps readers out
  db.run("create table t (id integer primary key, v text); create table cdc_engine_offsets (pipeline text, sink text, lsn text, primary key (pipeline, sink))");
  db.run("insert into cdc_engine_offsets values ('m', 'lite', '18446744073709551615')");
  for (let i = 1; i <= 20; i++) db.run("insert into t values (?, ?)", [i, `v${i}`]);
  const cfg = join(dir, "cdc.yaml");
  writeFileSync(cfg, `source: { url: "${pg.url(a)}" }
sinks: { lite: { type: sqlite, path: "${file}" } }
pipelines:
  - { name: m, from: public.t, to: lite }
`);
  try {
    const ok = await runBinary(["verify", "--config", cfg, "--lock-timeout", "1"]);
    expect(`exit ${ok.code}\n${ok.stdout}${ok.stderr}`).toContain("all 1 table(s) equal");
    db.run("begin exclusive");
    const started = Date.now();
    const locked = await runBinary(["verify", "--config", cfg, "--lock-timeout", "1"], { timeoutMs: 30_000 });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(`exit ${locked.code}\n${locked.stderr}`).toBe("exit 1\n");
    expect(locked.stdout).toMatch(/m\s+lite\s+public\.t\s+-\s+-\s+LOCKED/);
    expect(locked.stdout).toContain("is locked by another session: no lock within 1 s (--lock-timeout 1)");
  } finally {
    if (db.inTransaction) db.run("rollback");
    db.close();
  }
}, 120_000);
