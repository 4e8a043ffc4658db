import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createDatabase, runBinary, sharedPg } from "../helpers/index.ts";

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
