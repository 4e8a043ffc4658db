/**
 * `cdc-engine demo`: an embedded PostgreSQL (wal_level=logical), the generator writing all four
 * datasets at a steady rate in-process, the five scenarios' pipelines into SQLite files (plus
 * Redis/MariaDB/webhook when their URLs are in the environment), and the API + dashboard.
 * Ctrl-C stops the generators, the pipelines (final checkpoint), the API and PostgreSQL.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import groupsCsv from "../../examples/category_groups.csv" with { type: "text" };
import { parseConfig } from "../config/load.ts";
import { createLogger } from "../log.ts";
import { startRuntime } from "../engine/runtime.ts";
import { startGcGovernor } from "../engine/gc-governor.ts";
import { createApp } from "../api/app.ts";
import { startApiServer } from "../api/server.ts";
import { runGenerator } from "../generator/index.ts";
import { freePortNear } from "./ports.ts";
import { demoConfigYaml } from "./demo-config.ts";
import { startEmbeddedPg } from "./embedded-postgres.ts";

export interface RunDemoOptions {
  listen: string;
  dir?: string;
  /** Overall events per second across datasets (rough). */
  rate: number;
  out: (line: string) => void;
}

const SCHEMAS = ["ecommerce", "engagement", "orders", "relational"] as const;

export async function runDemo(o: RunDemoOptions): Promise<number> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), "cdc-demo-"));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "category_groups.csv"), groupsCsv);
  const pgPort = await freePortNear(54329);
  o.out(`starting PostgreSQL (wal_level=logical) on 127.0.0.1:${pgPort} ...`);
  const pg = await startEmbeddedPg(pgPort);
  const aborter = new AbortController();
  let runtime: Awaited<ReturnType<typeof startRuntime>> | null = null;
  let api: ReturnType<typeof startApiServer> | null = null;
  const gens: Promise<unknown>[] = [];
  try {
    const url = pg.url("postgres");
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    for (const s of SCHEMAS) await sql.unsafe(`create schema if not exists ${s}`);
    await sql.end();
    // tables first (the publication is built from them), with a little data
    for (const s of SCHEMAS) await runGenerator({ url, dataset: s, schema: s, init: true, count: s === "relational" ? undefined : 20, runs: s === "relational" ? 1 : undefined, progress: "none", out: () => {} });

    const cfg = parseConfig(
      demoConfigYaml({ sourceUrl: url, dir, listen: o.listen, redisUrl: process.env.REDIS_URL, mysqlUrl: process.env.MYSQL_URL, webhookUrl: process.env.WEBHOOK_URL }),
      join(dir, "demo.yaml"),
      {},
    );
    const log = createLogger({ level: cfg.log.level, format: cfg.log.format });
    startGcGovernor(cfg.state.gc_above, log);
    runtime = await startRuntime(cfg, log, { configDir: dir });
    api = startApiServer(createApp({ components: () => runtime!.components(), runtime, log: log.child({ component: "api" }) }), o.listen, log);

    const r = Math.max(1, o.rate);
    const common = { url, progress: "none" as const, signal: aborter.signal, out: () => {} };
    gens.push(
      runGenerator({ ...common, dataset: "ecommerce", schema: "ecommerce", rate: Math.max(1, Math.round(r * 0.2)), updates: 0.2 }),
      runGenerator({ ...common, dataset: "engagement", schema: "engagement", rate: Math.max(1, Math.round(r * 0.6)) }),
      runGenerator({ ...common, dataset: "orders", schema: "orders", rate: Math.max(1, Math.round(r * 0.1)), updates: 0.3, deletes: 0.05, invalid: 0.02, dirty: 0.05 }),
      runGenerator({ ...common, dataset: "relational", schema: "relational", continuous: true, intervalMs: 5000 }),
    );
    for (const g of gens) g.catch((e) => o.out(`[demo] generator stopped: ${e instanceof Error ? e.message : String(e)}`));

    o.out(
      [
        "",
        "cdc-engine demo is running:",
        `  source      ${url}  (schemas ${SCHEMAS.join(", ")}; generator at ~${r} rows/s)`,
        `  pipelines   ${cfg.pipelines.length}: ${cfg.pipelines.map((p) => p.name).join(", ")}`,
        `  warehouses  ${join(dir, "{ecommerce,engagement,orders,warehouse,relational}.sqlite")}`,
        `  dashboard   ${api.url}/`,
        `  status      curl ${api.url}/status    health: ${api.url}/health    metrics: ${api.url}/metrics`,
        `  try         sqlite3 ${join(dir, "orders.sqlite")} 'select * from order_agg order by window_start desc limit 5'`,
        process.env.REDIS_URL ? `  redis       ${process.env.REDIS_URL} (keys cdc_demo:*)` : "  redis       off (set REDIS_URL to add the leaderboard in Redis)",
        process.env.MYSQL_URL ? `  mariadb     ${process.env.MYSQL_URL} database ecommerce_ods_clean` : "  mariadb     off (set MYSQL_URL)",
        process.env.WEBHOOK_URL ? `  webhook     ${process.env.WEBHOOK_URL}` : "  webhook     off (set WEBHOOK_URL)",
        "Press Ctrl-C to stop (generators, pipelines with a final checkpoint, API, PostgreSQL).",
        "",
      ].join("\n"),
    );

    const signal = await new Promise<string>((resolve) => {
      process.once("SIGINT", () => resolve("SIGINT"));
      process.once("SIGTERM", () => resolve("SIGTERM"));
      // A closed terminal: its default ended the demo at once and left its PostgreSQL running.
      process.once("SIGHUP", () => resolve("SIGHUP"));
      void runtime!.done.then((e) => resolve(e ? `failure: ${e.message}` : "runtime ended"));
    });
    o.out(`stopping (${signal}) ...`);
    return signal.startsWith("failure") ? 1 : 0;
  } finally {
    aborter.abort();
    await Promise.allSettled(gens);
    await runtime?.stop().catch(() => {});
    await api?.stop();
    await pg.stop();
    o.out("stopped; PostgreSQL shut down.");
  }
}
