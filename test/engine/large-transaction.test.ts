import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createDatabase, freePort, sharedPg, waitUntil } from "../helpers/index.ts";
import { Engine, type MirrorSetup } from "./e2e.ts";

/**
 * Transactions larger than the source's memory budget (1 MB here) reach the sinks in parts
 * (OutputBatch.part): postgres and sqlite keep one open transaction and commit it with the last
 * part, so a reader never sees part of it, and a SIGKILL in the middle rolls it back and the
 * restart replays it whole.
 */
async function setup(srcUrl: string, dstUrl: string): Promise<MirrorSetup & { lite: string }> {
  const dir = mkdtempSync(join(tmpdir(), "cdc-bigtxn-"));
  const port = await freePort();
  const slot = `b_${Math.random().toString(36).slice(2, 10)}`;
  const config = join(dir, "cdc.yaml");
  const lite = join(dir, "lite.db");
  writeFileSync(
    config,
    `source: { url: "${srcUrl}", slot: ${slot}, publication: ${slot}, heartbeat_interval: 1s, memory_budget: 1MB }
state: { dir: "${join(dir, "state")}", checkpoint_interval: 1s }
api: { listen: "127.0.0.1:${port}" }
log: { level: info }
sinks:
  wh: { type: postgres, url: "${dstUrl}", batch_delay: 20ms }
  lite: { type: sqlite, path: "${lite}", batch_delay: 20ms }
pipelines:
  - { name: mirror, from: [public.big, public.side], to: wh }
  - { name: local, from: [public.big, public.side], to: lite }
`,
  );
  return { dir, config, port, logFile: join(dir, "engine.log"), lite };
}

const SOURCE_DDL = `
  create table big (id int8 primary key, n int4 not null, v text, amount numeric(14,2), at timestamptz);
  create table side (id int4 primary key, note text)`;

/** The big transaction: N inserts, then updates and deletes of some of them, and a row in another table. */
const bigTxn = (n: number, salt: string) => `begin;
  insert into big select g, g % 1000, '${salt} ' || g || repeat('x', 40), g * 1.25 + 9000000000.01, '2026-01-01 00:00:00.123456+00'::timestamptz + g * interval '1 second' from generate_series(1, ${n}) g;
  update big set v = 'changed ' || id, amount = amount + 0.01 where id % 97 = 0;
  delete from big where id % 101 = 0;
  insert into side values (${n % 100000}, '${salt}');
  commit;`;

const PG_SUM = `select count(*)::int8::text as c, coalesce(md5(string_agg(id::text || '|' || n || '|' || coalesce(v, '~') || '|' || amount::text || '|' || extract(epoch from at)::text, ',' order by id)), '') as h from big`;
const LITE_ROWS = `select id, n, v, amount, at from big order by id`;

async function sinkPosition(url: string, pipeline: string): Promise<bigint | null> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const r = await sql`select lsn::text from cdc_engine_offsets where pipeline = ${pipeline}`.catch(() => []);
    return r.length ? BigInt(r[0].lsn) : null;
  } finally {
    await sql.end();
  }
}

function litePosition(path: string): bigint | null {
  try {
    const db = new Database(path, { readonly: true });
    try {
      const r = db.query("select lsn from cdc_engine_offsets where pipeline = 'local'").get() as { lsn: string } | null;
      return r ? BigInt(r.lsn) : null;
    } finally {
      db.close();
    }
  } catch {
    return null;
  }
}

async function caughtUp(srcUrl: string, dstUrl: string, lite: string, timeoutMs = 120_000): Promise<void> {
  const src = postgres(srcUrl, { max: 1, onnotice: () => {} });
  const [{ l }] = await src`select (pg_current_wal_lsn() - '0/0')::text as l`;
  await src.end();
  const target = BigInt(l);
  await waitUntil("both sinks at the source's WAL position", async () => ((await sinkPosition(dstUrl, "mirror")) ?? -1n) >= target && (litePosition(lite) ?? -1n) >= target, timeoutMs);
}

/** Source rows as text, to compare with the SQLite copy (numeric as exact text, timestamps as Postgres prints them). */
async function sourceRows(url: string): Promise<string[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`select id::text as id, n, v, amount::text as amount, at::text as at from big order by big.id`;
    return rows.map((r) => `${r.id}|${r.n}|${r.v}|${r.amount}|${r.at}`);
  } finally {
    await sql.end();
  }
}

function liteRows(path: string): string[] {
  const db = new Database(path, { readonly: true, safeIntegers: true });
  try {
    return (db.query(LITE_ROWS).all() as { id: bigint; n: bigint; v: string; amount: string; at: string }[]).map((r) => `${r.id}|${r.n}|${r.v}|${r.amount}|${r.at}`);
  } finally {
    db.close();
  }
}

async function expectEqual(srcUrl: string, dstUrl: string, lite: string, rows: number) {
  const [src, dst] = [postgres(srcUrl, { max: 1, onnotice: () => {} }), postgres(dstUrl, { max: 1, onnotice: () => {} })];
  try {
    const [a] = await src.unsafe(PG_SUM);
    const [b] = await dst.unsafe(PG_SUM);
    expect(a.c).toBe(String(rows));
    expect(b).toEqual(a);
    expect(await dst`select id, note from side order by id`).toEqual(await src`select id, note from side order by id`);
  } finally {
    await src.end();
    await dst.end();
  }
  const want = await sourceRows(srcUrl);
  const got = liteRows(lite);
  expect(got.length).toBe(want.length);
  expect(got).toEqual(want);
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(name)) sum += Number(line.split(" ").at(-1));
  return sum;
}

const N = 60_000;
const expectedRows = (n: number) => n - Math.floor(n / 101);

describe("transactions larger than the memory budget (compiled binary)", () => {
  test("mirrored into postgres and sqlite in parts: complete, exact, and never visible half-applied", async () => {
    const pg = await sharedPg("system");
    const [src, dst] = [await createDatabase(pg, "big_src"), await createDatabase(pg, "big_dst")];
    const s = postgres(pg.url(src), { max: 1, onnotice: () => {} });
    await s.unsafe(SOURCE_DDL);
    const cfg = await setup(pg.url(src), pg.url(dst));
    const engine = new Engine(cfg);
    try {
      await engine.start();
      await engine.snapshotDone(["public.big", "public.side"]);
      await s.unsafe(bigTxn(N, "one"));
      // A reader of either sink sees none of the transaction or all of it.
      const d = postgres(pg.url(dst), { max: 1, onnotice: () => {} });
      const seen = new Set<number>();
      const liteSeen = new Set<number>();
      const until = Date.now() + 120_000;
      for (;;) {
        const [{ c }] = await d`select count(*)::int as c from big`.catch(() => [{ c: 0 }]);
        seen.add(c);
        try {
          const db = new Database(cfg.lite, { readonly: true });
          liteSeen.add(Number((db.query("select count(*) as c from big").get() as { c: number }).c));
          db.close();
        } catch {
          liteSeen.add(0);
        }
        if (c === expectedRows(N) && liteSeen.has(expectedRows(N))) break;
        if (Date.now() > until) throw new Error(`not applied in time; counts seen ${[...seen]}\n${engine.log().slice(-3000)}`);
        await Bun.sleep(20);
      }
      await d.end();
      expect([...seen].every((c) => c === 0 || c === expectedRows(N))).toBe(true);
      expect([...liteSeen].every((c) => c === 0 || c === expectedRows(N))).toBe(true);
      await caughtUp(pg.url(src), pg.url(dst), cfg.lite);
      expect(await metric(cfg.port, "cdc_engine_source_spilled_transactions_total")).toBeGreaterThanOrEqual(1);
      await expectEqual(pg.url(src), pg.url(dst), cfg.lite, expectedRows(N));
      // An ordinary transaction afterwards still flows.
      await s`update big set v = 'after' where id = 1`;
      await caughtUp(pg.url(src), pg.url(dst), cfg.lite);
      await expectEqual(pg.url(src), pg.url(dst), cfg.lite, expectedRows(N));
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine.proc) await engine.kill();
      await s.end();
    }
  }, 240_000);

  test("SIGKILL in the middle of a multi-part transaction, then restart: exact, nothing half-applied", async () => {
    const pg = await sharedPg("system");
    const [src, dst] = [await createDatabase(pg, "bigk_src"), await createDatabase(pg, "bigk_dst")];
    const s = postgres(pg.url(src), { max: 1, onnotice: () => {} });
    await s.unsafe(SOURCE_DDL);
    const cfg = await setup(pg.url(src), pg.url(dst));
    const engine = new Engine(cfg);
    const n = 250_000;
    try {
      await engine.start();
      await engine.snapshotDone(["public.big", "public.side"]);
      await s.unsafe(bigTxn(n, "kill"));
      // Kill once some parts are written (rows counted by the writers) but the transaction is not committed.
      await waitUntil(
        "parts of the transaction written",
        async () => {
          const w = await metric(cfg.port, 'cdc_engine_sink_rows_written_total{sink="wh"').catch(() => 0);
          return w > 0 && w < n;
        },
        120_000,
        () => engine.log().slice(-2000),
        10,
      );
      expect(await engine.kill("SIGKILL")).not.toBe(0);
      const d = postgres(pg.url(dst), { max: 1, onnotice: () => {} });
      // The sink table itself is created in the open transaction: it may be gone with it.
      const [{ c }] = await d`select count(*)::int as c from big`.catch(() => [{ c: 0 }]);
      await d.end();
      expect(c === 0 || c === expectedRows(n)).toBe(true);
      await engine.start();
      await caughtUp(pg.url(src), pg.url(dst), cfg.lite, 180_000);
      await expectEqual(pg.url(src), pg.url(dst), cfg.lite, expectedRows(n));
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine.proc) await engine.kill();
      await s.end();
    }
  }, 300_000);
});
