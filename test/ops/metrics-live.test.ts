import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { Database } from "bun:sqlite";
import { binaryPath, createDatabase, freePort, sharedPg } from "../helpers/index.ts";
import { waitUntil } from "../helpers/wait-for.ts";

/**
 * Every metric the issue lists, checked against a real `serve` (compiled binary, real Postgres,
 * SQLite sink): a table with rows before the start (snapshot), then inserts, updates and
 * deletes while it streams. A metric that should have moved and stayed 0 fails here.
 */
let proc: ReturnType<typeof Bun.spawn>;
let base = "";
let sql: postgres.Sql;
let slot = "";
let out = "";
let dir = "";

const waitFor = <T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 30_000) => waitUntil(what, fn, ms, () => `output: ${out.slice(-3000)}`, 100);
const scrape = async () => (await fetch(`${base}/metrics`)).text();
/** The value of one sample line (`name{labels}` exactly as exposed), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

beforeAll(async () => {
  const pg = await sharedPg("system");
  const db = await createDatabase(pg, "met");
  sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
  await sql.unsafe("create table items (id bigint primary key, name text not null)");
  await sql.unsafe("insert into items select g, 'snap ' || g from generate_series(1, 120) g");
  dir = mkdtempSync(join(tmpdir(), "cdc-met-"));
  const port = await freePort();
  slot = `met_${db.slice(4)}`;
  writeFileSync(
    join(dir, "cdc.yaml"),
    [
      "source:",
      `  url: ${pg.url(db)}`,
      `  slot: ${slot}`,
      `  publication: ${slot}`,
      "  heartbeat_interval: 1s",
      "state:",
      `  dir: ${dir}/state`,
      "  checkpoint_interval: 500ms",
      "api:",
      `  listen: 127.0.0.1:${port}`,
      "sinks:",
      `  lite: { type: sqlite, path: ${dir}/lite.db, batch_delay: 20ms }`,
      "pipelines:",
      "  - { name: items, from: public.items, to: lite }",
      "",
    ].join("\n"),
  );
  proc = Bun.spawn([await binaryPath(), "serve", "--config", join(dir, "cdc.yaml")], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env, CDC_LOG_FORMAT: "json" } });
  for (const s of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[]) {
    void (async () => {
      const dec = new TextDecoder();
      for await (const chunk of s) out += dec.decode(chunk, { stream: true });
    })();
  }
  base = `http://127.0.0.1:${port}`;
  await waitFor("GET /health = 200", async () => (await fetch(`${base}/health`).catch(() => null))?.status === 200, 90_000);
}, 120_000);

afterAll(async () => {
  if (proc && proc.exitCode === null) {
    proc.kill("SIGTERM");
    await proc.exited;
  }
  await sql?.unsafe(`select pg_drop_replication_slot('${slot}') where exists (select 1 from pg_replication_slots where slot_name = '${slot}')`).catch(() => {});
  await sql?.end();
});

describe("/metrics of a real serve", () => {
  test("snapshot, change, sink, batch, latency, checkpoint, slot, DLQ and process metrics all move", async () => {
    const snap = await waitFor("snapshot rows counted", async () => {
      const t = await scrape();
      return sample(t, 'cdc_engine_sink_rows_written_total{sink="lite",pipeline="items",op="upsert"}') === 120 ? t : null;
    });
    expect(sample(snap, 'cdc_engine_snapshot_rows_total{table="public.items"}')).toBe(120);

    await sql.unsafe("insert into items select g, 'new ' || g from generate_series(121, 150) g");
    await sql.unsafe("update items set name = name || '!' where id <= 10");
    await sql.unsafe("delete from items where id between 141 and 150");
    const t = await waitFor("the stream's rows written", async () => {
      const x = await scrape();
      return sample(x, 'cdc_engine_sink_rows_written_total{sink="lite",pipeline="items",op="delete"}') === 10 ? x : null;
    });
    // Snapshot rows are not changes read from the stream.
    expect(sample(t, 'cdc_engine_source_changes_total{table="public.items",op="insert"}')).toBe(30);
    expect(sample(t, 'cdc_engine_source_changes_total{table="public.items",op="update"}')).toBe(10);
    expect(sample(t, 'cdc_engine_source_changes_total{table="public.items",op="delete"}')).toBe(10);
    expect(sample(t, "cdc_engine_source_transactions_total")).toBeGreaterThanOrEqual(3);
    expect(sample(t, 'cdc_engine_sink_rows_written_total{sink="lite",pipeline="items",op="upsert"}')).toBe(160);
    expect(sample(t, 'cdc_engine_sink_batch_rows_count{sink="lite"}')).toBeGreaterThanOrEqual(2);
    expect(sample(t, 'cdc_engine_sink_batch_rows_sum{sink="lite"}')).toBe(170);
    expect(sample(t, 'cdc_engine_commit_to_sink_seconds_count{sink="lite"}')).toBeGreaterThanOrEqual(2);
    expect(sample(t, 'cdc_engine_sink_up{sink="lite"}')).toBe(1);
    expect(sample(t, 'cdc_engine_dlq_pending_rows{pipeline="items"}')).toBe(0);
    expect(sample(t, 'cdc_engine_pipeline_paused{pipeline="items"}')).toBe(0);
    expect(sample(t, "cdc_engine_process_resident_memory_bytes")).toBeGreaterThan(10_000_000);
    expect(sample(t, "cdc_engine_nodejs_eventloop_lag_p99_seconds")).toBeGreaterThan(0);

    // Checkpoints every 500 ms; the slot monitor refreshes every second (heartbeat_interval).
    const later = await waitFor("checkpoint and slot gauges", async () => {
      const x = await scrape();
      return (sample(x, "cdc_engine_checkpoint_duration_seconds_count") ?? 0) >= 2 && (sample(x, "cdc_engine_slot_wal_retained_bytes") ?? 0) > 0 ? x : null;
    });
    expect(sample(later, "cdc_engine_checkpoint_age_seconds")).toBeLessThan(3);
    expect(sample(later, "cdc_engine_checkpoint_lsn")).toBeGreaterThan(0);
    const [{ retained }] = await sql.unsafe("select (pg_current_wal_lsn() - restart_lsn)::bigint::text as retained from pg_replication_slots where slot_name = $1", [slot]);
    // Same order of magnitude as the server's own figure (it moves with every heartbeat).
    expect(sample(later, "cdc_engine_slot_wal_retained_bytes")!).toBeLessThanOrEqual(Number(retained) * 4 + 1_000_000);
    expect(sample(later, "cdc_engine_source_lag_bytes")).toBeGreaterThanOrEqual(0);
    expect(sample(later, "cdc_engine_source_lag_seconds")).toBeGreaterThanOrEqual(0);
    expect(sample(later, "cdc_engine_source_lag_seconds")).toBeLessThan(30);

    // A row the sink refuses goes to the DLQ and is not counted as written (it was: 10 counted, 7 in the sink).
    const lite = new Database(join(dir, "lite.db"));
    lite.run(`create trigger no_poison before insert on items when new.name = 'poison' begin select raise(abort, 'poison refused'); end`);
    lite.close();
    await sql.unsafe("insert into items values (201, 'ok 1'), (202, 'poison'), (203, 'ok 2')");
    const d = await waitFor("the refused row in the DLQ", async () => {
      const x = await scrape();
      return (sample(x, 'cdc_engine_dlq_rows_total{pipeline="items",stage="lite"}') ?? 0) >= 1 ? x : null;
    });
    expect(sample(d, 'cdc_engine_sink_rows_written_total{sink="lite",pipeline="items",op="upsert"}')).toBe(162);
    const status = (await (await fetch(`${base}/status`)).json()) as { pipelines: { sinks: { written: number }[] }[] };
    expect(status.pipelines[0].sinks[0].written).toBe(172); // 160 upserts, 10 deletes, 2 of the 3 new rows
  }, 60_000);
});
