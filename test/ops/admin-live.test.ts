import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import mysql from "mysql2/promise";
import { binaryPath, createDatabase, freePort, requireMysql, runBinary, sharedPg } from "../helpers/index.ts";
import { waitUntil } from "../helpers/wait-for.ts";
import { DlqStore } from "../../src/dlq/store.ts";
import { col, numericMod, OID } from "../sinks/helpers.ts";

/**
 * The admin API of a real `serve` (the compiled binary, real Postgres, MariaDB and SQLite):
 * pause holds one pipeline back while the others go on, resume catches it up exactly, and a
 * dead letter whose cause was fixed is replayed once through the engine's own sinks.
 */
const TOKEN = "admin-live-token-0123456789";
const auth = { Authorization: `Bearer ${TOKEN}` };

let proc: ReturnType<typeof Bun.spawn>;
let base = "";
let src: postgres.Sql;
let dst: postgres.Sql;
let my: mysql.Connection;
let lite: Database;
let dir = "";
let slot = "";
let myDb = "";
let out = "";

function pump(stream: ReadableStream<Uint8Array>): Promise<void> {
  return (async () => {
    const dec = new TextDecoder();
    for await (const chunk of stream) out += dec.decode(chunk, { stream: true });
  })();
}
const waitFor = <T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 30_000) => waitUntil(what, fn, ms, () => `output: ${out.slice(-3000)}`, 100);
const post = (path: string) => fetch(`${base}${path}`, { method: "POST", headers: auth });
const metric = (text: string, line: string) => text.split("\n").find((l) => l.startsWith(line + " "))?.slice(line.length + 1);

/** id → "name|price" of a sink's items table, sorted, as text (exact numerics). */
async function pgItems(): Promise<string[]> {
  const rows = await dst.unsafe("select i.id::text, i.name, i.price::text from public.items i order by i.id");
  return rows.map((r) => `${r.id}|${r.name}|${r.price}`);
}
function liteItems(): string[] {
  return (lite.query("select cast(i.id as text) as id, i.name, cast(i.price as text) as price from items i order by i.id").all() as { id: string; name: string; price: string }[]).map((r) => `${r.id}|${r.name}|${r.price}`);
}
async function sourceItems(): Promise<string[]> {
  const rows = await src.unsafe("select i.id::text, i.name, i.price::text from items i order by i.id");
  return rows.map((r) => `${r.id}|${r.name}|${r.price}`);
}

async function serve(): Promise<void> {
  proc = Bun.spawn([await binaryPath(), "serve", "--config", join(dir, "cdc.yaml")], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env, CDC_LOG_FORMAT: "json" } });
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  await waitFor("GET /health = 200", async () => (await fetch(`${base}/health`).catch(() => null))?.status === 200, 90_000);
}

beforeAll(async () => {
  const pg = await sharedPg("system");
  const db = await createDatabase(pg, "adm");
  const sinkDb = await createDatabase(pg, "admsink");
  src = postgres(pg.url(db), { max: 1, onnotice: () => {} });
  dst = postgres(pg.url(sinkDb), { max: 1, onnotice: () => {} });
  await src.unsafe("create table items (id bigint primary key, name text not null, price numeric(14,2) not null)");
  await src.unsafe("create table notes (id int primary key, code varchar(40) not null)");
  const myUrl = await requireMysql();
  my = await mysql.createConnection({ uri: myUrl, supportBigNumbers: true, bigNumberStrings: true });
  myDb = `adm_${Math.random().toString(36).slice(2, 10)}`;
  // The target column is narrower than the source's: a long code is rejected into the DLQ.
  await my.query(`CREATE DATABASE \`${myDb}\``);
  await my.query(`CREATE TABLE \`${myDb}\`.notes (id INT PRIMARY KEY, code VARCHAR(5) NOT NULL)`);

  const port = await freePort();
  dir = mkdtempSync(join(tmpdir(), "cdc-admin-"));
  slot = `adm_${db.slice(4)}`;
  const cfg = join(dir, "cdc.yaml");
  writeFileSync(
    cfg,
    [
      "source:",
      `  url: ${pg.url(db)}`,
      `  slot: ${slot}`,
      `  publication: ${slot}`,
      "state:",
      `  dir: ${dir}/state`,
      "  checkpoint_interval: 1s",
      "api:",
      `  listen: 127.0.0.1:${port}`,
      `  token: ${TOKEN}`,
      "sinks:",
      `  pg: { type: postgres, url: "${pg.url(sinkDb)}", batch_delay: 20ms }`,
      `  lite: { type: sqlite, path: ${dir}/lite.db, batch_delay: 20ms }`,
      `  mart: { type: mysql, url: "${myUrl}", database: ${myDb} }`,
      "pipelines:",
      "  - { name: to_pg, from: public.items, to: pg }",
      "  - { name: to_lite, from: public.items, to: lite }",
      "  - { name: notes, from: public.notes, to: { sink: mart, table: notes } }",
      "",
    ].join("\n"),
  );
  base = `http://127.0.0.1:${port}`;
  await serve();
  await src.unsafe("insert into items select g, 'item ' || g, g * 1.25 from generate_series(1, 100) g");
  await waitFor("both sinks hold the first 100 rows", async () => {
    try {
      return (await pgItems()).length === 100 && (lite ??= new Database(join(dir, "lite.db"), { readonly: true })) && liteItems().length === 100;
    } catch {
      return false;
    }
  });
}, 150_000);

afterAll(async () => {
  if (proc && proc.exitCode === null) {
    proc.kill("SIGTERM");
    await proc.exited;
  }
  lite?.close();
  await src?.unsafe(`select pg_drop_replication_slot('${slot}') where exists (select 1 from pg_replication_slots where slot_name = '${slot}')`).catch(() => {});
  await src?.end();
  await dst?.end();
  await my?.query(`DROP DATABASE IF EXISTS \`${myDb}\``).catch(() => {});
  await my?.end();
});

describe("admin API of a running serve", () => {
  test("pause holds one pipeline (its sink and the slot stay put), resume catches it up exactly", async () => {
    const before = await pgItems();
    expect(before.length).toBe(100);
    const pause = await post("/admin/pipelines/to_pg/pause");
    expect(pause.status).toBe(200);
    expect(await pause.json()).toEqual({ ok: true, action: "pause", pipeline: "to_pg" });
    expect((await post("/admin/pipelines/to_pg/pause")).status).toBe(409);
    expect((await post("/admin/pipelines/nope/pause")).status).toBe(404);
    const [{ lsn: pausedAt }] = await src.unsafe("select pg_current_wal_lsn()::text as lsn");

    // Inserts, updates and deletes while paused: the unpaused pipeline gets them all.
    await src.unsafe("insert into items select g, 'item ' || g, g * 1.25 from generate_series(101, 300) g");
    await src.unsafe("update items set price = price + 0.01, name = name || '!' where id % 7 = 0");
    await src.unsafe("delete from items where id between 40 and 59");
    const expected = await sourceItems();
    expect(expected.length).toBe(280);
    await waitFor("the sqlite pipeline reflects every change", async () => JSON.stringify(liteItems()) === JSON.stringify(expected));
    // Let checkpoints run a few times: the paused pipeline's sink and the slot must not move.
    await Bun.sleep(2500);
    expect(await pgItems()).toEqual(before);
    const [{ held }] = await src.unsafe(`select confirmed_flush_lsn <= $1::pg_lsn as held from pg_replication_slots where slot_name = $2`, [pausedAt, slot]);
    expect(held).toBe(true);
    const status = (await (await fetch(`${base}/status`)).json()) as { pipelines: { name: string; paused: boolean; pausedBy?: string; held?: { transactions: number; changes: number } }[] };
    const p = status.pipelines.find((x) => x.name === "to_pg")!;
    expect(p.paused).toBe(true);
    expect(p.pausedBy).toBe("admin");
    expect(p.held!.changes).toBe(200 + 42 + 20);
    expect(status.pipelines.find((x) => x.name === "to_lite")!.paused).toBe(false);
    expect(metric(await (await fetch(`${base}/metrics`)).text(), 'cdc_engine_pipeline_paused{pipeline="to_pg"}')).toBe("1");

    const resume = await post("/admin/pipelines/to_pg/resume");
    expect(resume.status).toBe(200);
    expect((await post("/admin/pipelines/to_pg/resume")).status).toBe(409);
    await waitFor("the resumed pipeline's sink equals the source", async () => JSON.stringify(await pgItems()) === JSON.stringify(expected));
    expect(metric(await (await fetch(`${base}/metrics`)).text(), 'cdc_engine_pipeline_paused{pipeline="to_pg"}')).toBe("0");
    // After the resume the slot moves on again.
    await waitFor("slot confirmed past the pause point", async () => {
      const [r] = await src.unsafe(`select confirmed_flush_lsn > $1::pg_lsn as moved from pg_replication_slots where slot_name = $2`, [pausedAt, slot]);
      return r.moved === true;
    });
  }, 90_000);

  test("a row the sink rejected lands once after its cause is fixed and it is replayed; pending gauge follows", async () => {
    await src.unsafe("insert into notes values (1, 'ok'), (2, 'far too long for five'), (3, 'fine')");
    await waitFor("rows 1 and 3 in mysql", async () => {
      const [rows] = await my.query(`SELECT id FROM \`${myDb}\`.notes ORDER BY id`);
      return (rows as { id: number }[]).map((r) => r.id).join(",") === "1,3";
    });
    const pending = await waitFor("the DLQ gauge counts the rejected row", async () => {
      const m = metric(await (await fetch(`${base}/metrics`)).text(), 'cdc_engine_dlq_pending_rows{pipeline="notes"}');
      return m === "1" ? m : null;
    });
    expect(pending).toBe("1");
    // Not fixed yet: the replay fails and the entry stays (no second copy).
    const first = await post("/admin/dlq/replay?pipeline=notes");
    expect(first.status).toBe(200);
    const r1 = ((await first.json()) as { result: { replayed: number; failed: { error: string }[] } }).result;
    expect(r1.replayed).toBe(0);
    expect(r1.failed.length).toBe(1);
    expect(r1.failed[0].error).toMatch(/too long/i);
    // Fix the cause, replay: the row lands once, the queue is empty, a second replay does nothing.
    await my.query(`ALTER TABLE \`${myDb}\`.notes MODIFY code VARCHAR(40) NOT NULL`);
    const second = await post("/admin/dlq/replay");
    expect(second.status).toBe(200);
    expect(((await second.json()) as { result: { replayed: number } }).result.replayed).toBe(1);
    const [rows] = await my.query(`SELECT id, code FROM \`${myDb}\`.notes ORDER BY id`);
    expect(rows as unknown[]).toEqual([
      { id: 1, code: "ok" },
      { id: 2, code: "far too long for five" },
      { id: 3, code: "fine" },
    ]);
    expect(((await (await post("/admin/dlq/replay")).json()) as { result: { replayed: number } }).result.replayed).toBe(0);
    expect(metric(await (await fetch(`${base}/metrics`)).text(), 'cdc_engine_dlq_pending_rows{pipeline="notes"}')).toBe("0");
    expect(metric(await (await fetch(`${base}/metrics`)).text(), 'cdc_engine_dlq_replayed_rows_total{pipeline="all"}')).toBe("1");
  }, 60_000);

  test("dead letters for the postgres and sqlite sinks are replayed through the engine without moving their positions", async () => {
    const [{ lsn: pgPos }] = await dst.unsafe("select lsn::text as lsn from cdc_engine_offsets where pipeline = 'to_pg'");
    const litePos = (lite.query("select lsn from cdc_engine_offsets where pipeline = 'to_lite'").get() as { lsn: string }).lsn;
    const target = {
      name: "public.items",
      key: ["id"],
      columns: [col("id", OID.int8, { key: true }), col("name", OID.text), col("price", OID.numeric, { typeMod: numericMod(14, 2) })],
    };
    const store = new DlqStore(join(dir, "state"));
    const rec = () => ({ op: "upsert" as const, table: target, row: { id: 9007199254740993n, name: "replayed", price: "123456789012.99" }, lsn: 5n, index: 0, commitTime: 0n, source: { table: "public.items", op: "insert", xid: 1 } });
    store.putRecord("to_pg", "pg", rec(), "simulated rejection");
    store.putRecord("to_lite", "lite", rec(), "simulated rejection");
    store.close();
    const res = await post("/admin/dlq/replay");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { result: { replayed: number; failed: unknown[]; skipped: unknown[]; superseded: unknown[] } };
    expect(body.result).toEqual({ replayed: 2, failed: [], skipped: [], superseded: [] });
    const [row] = await dst.unsafe("select id::text, name, price::text from public.items where id = 9007199254740993");
    expect(row as unknown).toEqual({ id: "9007199254740993", name: "replayed", price: "123456789012.99" });
    expect(lite.query("select cast(id as text) as id, name, cast(price as text) as price from items where id = 9007199254740993").get()).toEqual({ id: "9007199254740993", name: "replayed", price: "123456789012.99" });
    const [{ lsn: pgPos2 }] = await dst.unsafe("select lsn::text as lsn from cdc_engine_offsets where pipeline = 'to_pg'");
    // The replay keeps the position each sink holds (its records carry lsn 5 and REPLAY_LSN 0). Idle
    // progress may still move it on meanwhile: the sink database is on the source's server, so the
    // replay's own write is WAL that a keepalive reports, and the writer stores that within a second.
    expect(BigInt(pgPos2)).toBeGreaterThanOrEqual(BigInt(pgPos));
    expect(BigInt((lite.query("select lsn from cdc_engine_offsets where pipeline = 'to_lite'").get() as { lsn: string }).lsn)).toBeGreaterThanOrEqual(BigInt(litePos));
    // The engine goes on after the replay (its next batch stores a newer position).
    // (and the replayed row, which the source never had, is removed by a source delete)
    await src.unsafe("insert into items values (1000, 'after', 1.00)");
    await src.begin(async (tx) => {
      await tx.unsafe("insert into items values (9007199254740993, 'x', 0)");
      await tx.unsafe("delete from items where id = 9007199254740993");
    });
    const expected = await sourceItems();
    await waitFor("both sinks equal the source", async () => JSON.stringify(await pgItems()) === JSON.stringify(expected) && JSON.stringify(liteItems()) === JSON.stringify(expected));
    const dlq = await runBinary(["dlq", "list", "--config", join(dir, "cdc.yaml")]);
    expect(dlq.stdout).toContain("0 of 0 dead letter(s)");
  }, 60_000);

  test("stopped while paused: nothing is lost; `cdc-engine dlq replay` on the stopped engine serves postgres and sqlite too; the restart catches up exactly", async () => {
    expect((await post("/admin/pipelines/to_pg/pause")).status).toBe(200);
    const before = await pgItems();
    await src.unsafe("insert into items select g, 'late ' || g, g * 0.5 from generate_series(2001, 2300) g");
    await src.unsafe("update items set price = price * 2 where id between 2001 and 2100");
    await src.unsafe("delete from items where id between 2201 and 2300");
    const expected = await sourceItems();
    await waitFor("the sqlite pipeline is current", async () => JSON.stringify(liteItems()) === JSON.stringify(expected));
    await Bun.sleep(1500); // checkpoints while paused
    expect(await pgItems()).toEqual(before);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);

    // The stopped engine's DLQ: the CLI opens the sinks itself (same-position write for postgres and sqlite).
    const [{ lsn: pgPos }] = await dst.unsafe("select lsn::text as lsn from cdc_engine_offsets where pipeline = 'to_pg'");
    const store = new DlqStore(join(dir, "state"));
    const target = { name: "public.items", key: ["id"], columns: [col("id", OID.int8, { key: true }), col("name", OID.text), col("price", OID.numeric, { typeMod: numericMod(14, 2) })] };
    const rec = { op: "upsert" as const, table: target, row: { id: 77777n, name: "cli replay", price: "1.10" }, lsn: 5n, index: 0, commitTime: 0n, source: { table: "public.items", op: "insert", xid: 1 } };
    store.putRecord("to_pg", "pg", rec, "simulated rejection");
    store.putRecord("to_lite", "lite", rec, "simulated rejection");
    store.close();
    const cli = await runBinary(["dlq", "replay", "--config", join(dir, "cdc.yaml")]);
    expect(cli.stdout).toContain("replayed 2, superseded 0, still failing 0, skipped 0");
    expect(cli.code).toBe(0);
    expect((await dst.unsafe("select name, price::text from public.items where id = 77777"))[0] as unknown).toEqual({ name: "cli replay", price: "1.10" });
    expect(lite.query("select name from items where id = 77777").get()).toEqual({ name: "cli replay" });
    expect((await dst.unsafe("select lsn::text as lsn from cdc_engine_offsets where pipeline = 'to_pg'"))[0].lsn).toBe(pgPos);

    // Restart (the pause was not persisted): the pipeline catches up from the slot, exactly.
    await serve();
    const want = [...expected, "77777|cli replay|1.10"].sort((a, b) => Number(a.split("|")[0]) - Number(b.split("|")[0]));
    await waitFor("the postgres sink equals the source after the restart", async () => JSON.stringify(await pgItems()) === JSON.stringify(want));
    expect(liteItems()).toEqual(want);
  }, 120_000);
});
