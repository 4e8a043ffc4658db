/**
 * SIGTERM while a sink is away: the stop is bounded. The runtime's give-up ended the writers'
 * retries but not the write in flight inside the sink (BigQuery's own retry of a refused
 * connection), so the final flush waited on it and `serve` was still running 70 s after the
 * signal (QA), past systemd's TimeoutStopSec: SIGKILLed, no exit 0.
 */
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createDatabase, freePort, sharedPg } from "../helpers/index.ts";
import { BigQueryServer } from "../helpers/bigquery-server.ts";
import { Engine } from "./e2e.ts";

describe("stop while a sink is away (compiled binary)", () => {
  test("SIGTERM with the BigQuery endpoint down: exits 0 within the stop bound; the rows come after a restart", async () => {
    const pg = await sharedPg("system");
    const src = await createDatabase(pg, "stopaway_src");
    const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
    let bq = new BigQueryServer("away");
    let engine: Engine | null = null;
    try {
      await sql`create table ev (id int primary key, v text)`;
      await sql`insert into ev select g, 'v' || g from generate_series(1, 10) g`;
      const dir = mkdtempSync(join(tmpdir(), "cdc-stopaway-"));
      const port = await freePort();
      const slot = `s_${Math.random().toString(36).slice(2, 10)}`;
      const config = join(dir, "cdc.yaml");
      const write = (endpoint: string) =>
        writeFileSync(
          config,
          `source: { url: "${pg.url(src)}", slot: ${slot}, publication: ${slot}, heartbeat_interval: 1s }
state: { dir: "${join(dir, "state")}", checkpoint_interval: 1s }
api: { listen: "127.0.0.1:${port}" }
sinks:
  bq: { type: bigquery, access_token: test-token, project: away, dataset: d, api_endpoint: "${endpoint}", batch_size: 100, flush_interval: 10ms }
pipelines:
  - { name: ev_bq, from: public.ev, to: { sink: bq, table: ev } }
`,
        );
      write(bq.endpoint);
      engine = new Engine({ dir, config, port, logFile: join(dir, "engine.log") });
      await engine.start();
      await engine.snapshotDone(["public.ev"]);
      const until = Date.now() + 30_000;
      while ((bq.table("d", "ev")?.rows.length ?? 0) < 10 && Date.now() < until) await Bun.sleep(50);
      expect(bq.table("d", "ev")?.rows.length).toBe(10);
      // A checkpoint past the snapshot first (else the restart takes the snapshot again).
      const checkpoints = () => {
        try {
          const db = new Database(join(dir, "state", "checkpoints.db"), { readonly: true });
          const n = (db.query("select count(*) as n from checkpoints").get() as { n: number }).n;
          db.close();
          return n;
        } catch {
          return 0;
        }
      };
      while (checkpoints() === 0 && Date.now() < until) await Bun.sleep(50);
      bq.stop(); // connection refused from now on
      await sql`insert into ev select g, 'v' || g from generate_series(11, 20) g`;
      await Bun.sleep(3000); // the write is retrying
      const t0 = Date.now();
      const code = await engine.kill("SIGTERM");
      const took = Date.now() - t0;
      expect({ code, inBound: took < 45_000 }).toEqual({ code: 0, inBound: true });
      // Nothing lost: BigQuery back (a new endpoint, its tables empty), the restart sends rows 11–20.
      bq = new BigQueryServer("away");
      write(bq.endpoint);
      await engine.start();
      const until2 = Date.now() + 60_000;
      while ((bq.table("d", "ev")?.rows.length ?? 0) < 10 && Date.now() < until2) await Bun.sleep(100);
      const ids = (bq.table("d", "ev")?.rows ?? []).map((r) => Number(r.id)).sort((a, b) => a - b);
      expect(ids).toEqual(Array.from({ length: 10 }, (_, i) => i + 11));
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine?.proc) await engine.kill();
      bq.stop();
      await sql.end();
    }
  }, 180_000);
});
