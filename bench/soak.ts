/**
 * Soak: the five examples (examples/*.yaml) served by the compiled binary, one process each, as
 * systemd would run them, while `cdc-engine generate` feeds every dataset at a modest steady rate
 * (updates, deletes, invalid, dirty and late rows where the generator has them). Every 30 s it
 * samples each engine (RSS, VmHWM, fds, every /metrics series and /status number, state dir, log
 * size, checkpoint row counts), the slots' retained WAL and Redis into a long-format CSV, and at the
 * end prints first/warm/last per metric with what grew, runs `verify` on the mirror and compares
 * the warehouse summary and order_agg with SQL over the source.
 *
 *   bun bench/soak.ts [--minutes 22] [--every 30] [--rate 1] [--out /tmp/soak.csv]
 *
 * --rate scales every generator (1 ≈ 1,100 rows/s in all). Needs the machine's PostgreSQL (a
 * throwaway logical server is started), redis-server (one of its own is started: the shared one
 * was restarted by another test mid-soak, which stops the engagement engine by design) and MariaDB
 * on its default port (or MYSQL_URL). Uses CDC_ENGINE_BIN or builds the binary. Not part of
 * `bun test` or `bun run bench`. An engine that exits is reported and the rest go on. The engines'
 * state dirs and logs (printed at the start) are left for inspection.
 */
import { parseArgs } from "node:util";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import mysql from "mysql2/promise";
import { binaryPath, createDatabase, freePort, mysqlUrl, requireMysql, sharedPg, stopSharedServers } from "../test/helpers/index.ts";
import { engagementWorld, generate, Serve, waitFor } from "../test/e2e/harness.ts";
import { csvRows, sampleEngine, type Sample } from "./lib/soak-sample.ts";
import { printSoakReport } from "./lib/soak-report.ts";

const { values: opt } = parseArgs({ options: { minutes: { type: "string", default: "22" }, every: { type: "string", default: "30" }, rate: { type: "string", default: "1" }, out: { type: "string", default: "/tmp/soak.csv" } } });
const minutes = Number(opt.minutes);
const scale = Number(opt.rate);
const csv = opt.out!;

/** Serve with its output in a file (a soak's logs would fill the harness' string) at the default level. */
class SoakServe extends Serve {
  readonly logFile = join(this.dir, "engine.log");
  override async start(): Promise<void> {
    this.port ||= await freePort();
    const out = Bun.file(this.logFile);
    this.proc = Bun.spawn([await binaryPath(), "serve", "--config", this.config], { cwd: this.dir, env: this.fullEnv(), stdout: out, stderr: out });
    await waitFor("/health answers", async () => {
      if (this.proc?.exitCode != null) throw new Error(`${this.example} exited ${this.proc.exitCode}: ${await Bun.file(this.logFile).text()}`);
      return (await fetch(`http://127.0.0.1:${this.port}/health`).catch(() => null))?.status ?? false;
    });
  }
}

const redisPort = await freePort();
const redisServer = Bun.spawn(["redis-server", "--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdout: "ignore", stderr: "inherit" });
process.once("exit", () => redisServer.kill());
process.env.REDIS_URL = `redis://127.0.0.1:${redisPort}`;
await waitFor("redis-server", () => Bun.connect({ hostname: "127.0.0.1", port: redisPort, socket: { data() {} } }).then((c) => (c.end(), true), () => false));
const pg = await sharedPg("system");
const db = async (name: string) => pg.url(await createDatabase(pg, name));
const [olist, shop, wh, relSrc, replica] = [await db("soak_olist"), await db("soak_shop"), await db("soak_wh"), await db("soak_rel"), await db("soak_replica")];
const eng = await engagementWorld("soak_eng");
const martDb = `soak_ods_${Math.random().toString(36).slice(2, 8)}`;
await requireMysql();

await generate(olist, ["--dataset", "ecommerce", "--init", "--count", "50", "--seed", "1"]);
await generate(shop, ["--dataset", "orders", "--init", "--count", "50", "--seed", "1"]);
await generate(relSrc, ["--dataset", "relational", "--init", "--runs", "1"]);
await generate(eng.env.SOURCE_URL!, ["--dataset", "engagement", "--count", "200", "--seed", "1"]);
const replicaSql = postgres(replica, { max: 1, onnotice: () => {} });
await replicaSql.unsafe(await Bun.file(join(import.meta.dir, "../sql/relational.sql")).text());

const env = (slot: string, e: Record<string, string>) => ({ ...e, CDC_SLOT: slot, CDC_PUBLICATION: slot, CDC_LOG_LEVEL: "info" });
const serves = [
  new SoakServe("ecommerce", env("soak_ecommerce", { SOURCE_URL: olist, MART_URL: mysqlUrl(), MART_DATABASE: martDb })),
  new SoakServe("engagement", env("soak_engagement", eng.env)),
  new SoakServe("orders", env("soak_orders", { SOURCE_URL: shop, WAREHOUSE_URL: wh })),
  new SoakServe("warehouse", env("soak_warehouse", { SOURCE_URL: shop, WAREHOUSE_URL: wh })),
  new SoakServe("relational", env("soak_relational", { SOURCE_URL: relSrc, REPLICA_URL: replica })),
];
for (const s of serves) await s.start();
console.log(`engines up: ${serves.map((s) => `${s.example} pid ${s.proc!.pid} :${s.port} ${s.dir}`).join("\n  ")}`);

const r = (n: number) => `${Math.max(1, Math.round(n * scale))}/s`;
const duration = `${Math.round(minutes * 60)}s`;
const feeds: [string, string, string[]][] = [
  ["ecommerce", olist, ["--rate", r(150), "--updates", "0.2", "--deletes", "0.03"]],
  ["engagement", eng.env.SOURCE_URL!, ["--rate", r(550), "--late", "0.05", "--late-by", "2m"]],
  ["orders", shop, ["--rate", r(300), "--updates", "0.3", "--deletes", "0.05", "--invalid", "0.02", "--dirty", "0.05", "--late", "0.05", "--late-by", "2m"]],
  ["relational", relSrc, ["--continuous", "--interval", `${Math.max(1, Math.round(2 / scale))}s`]],
];
const bin = await binaryPath();
const genLog = (dataset: string) => `${csv}.generate-${dataset}.log`;
const gens = feeds.map(([dataset, url, args]) => {
  writeFileSync(genLog(dataset), ""); // Bun.file as stdout does not truncate: a shorter run kept the last run's tail
  const log = Bun.file(genLog(dataset));
  return Bun.spawn([bin, "generate", "--dataset", dataset, "--url", url, "--progress", "json", "--stats-interval", "60s", "--duration", duration, ...args], { stdout: log, stderr: log });
});

// Ctrl-C: no engine, generator or server left behind (the helpers' exit hook does not run on a signal)
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, async () => {
    for (const p of [...gens, ...serves.map((s) => s.proc)]) p?.kill("SIGKILL");
    await stopSharedServers();
    process.exit(130);
  });
}

const admin = postgres(pg.url(), { max: 1, onnotice: () => {} });
async function sampleShared(): Promise<Sample> {
  const out: Sample = {};
  for (const s of await admin.unsafe(`select slot_name, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8 as behind,
      pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 as retained from pg_replication_slots`)) {
    out[`slot:${s.slot_name}:confirmed_behind`] = s.behind;
    out[`slot:${s.slot_name}:retained`] = s.retained;
  }
  out["pg:wal_dir_bytes"] = Number((await admin.unsafe("select sum(size)::float8 as n from pg_ls_waldir()"))[0]!.n);
  const info = await eng.redis.info("memory");
  out["redis:used_memory"] = Number(/used_memory:(\d+)/.exec(info)?.[1]);
  out["redis:dbsize"] = await eng.redis.dbsize();
  out["redis:prefix_keys"] = (await eng.redis.keys(`${eng.prefix}*`)).length;
  return out;
}

writeFileSync(csv, "t,engine,metric,value\n");
const t0 = Date.now();
const sampleAll = async () => {
  const t = Math.round((Date.now() - t0) / 1000);
  for (const s of serves) {
    if (s.proc?.exitCode != null) {
      console.log(`[soak ${t}s] ${s.example} exited ${s.proc.exitCode}: ${(await Bun.file(s.logFile).text()).trim().split("\n").slice(-2).join(" | ").slice(0, 600)}`);
      appendFileSync(csv, csvRows(t, s.example, { "proc:exited": s.proc.exitCode }) + "\n");
      continue;
    }
    const sample = await sampleEngine({ name: s.example, pid: s.proc!.pid, port: s.port, stateDir: join(s.dir, "state"), logFile: s.logFile });
    appendFileSync(csv, csvRows(t, s.example, sample) + "\n");
  }
  appendFileSync(csv, csvRows(t, "shared", await sampleShared()) + "\n");
  const rss = serves.map((s) => `${s.example} ${s.proc?.exitCode != null ? "exited" : `${(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${s.proc!.pid}/status`, "utf8"))?.[1]) / 1024).toFixed(0)}M`}`).join(", ");
  console.log(`[soak ${t}s] RSS ${rss}`);
};

await sampleAll();
const timer = setInterval(() => void sampleAll().catch((e) => console.error("sample failed", e)), Number(opt.every) * 1000);
await Promise.all(gens.map((g) => g.exited));
clearInterval(timer);
for (const [i, g] of gens.entries()) console.log(`generate ${feeds[i]![0]} exited ${g.exitCode}: ${(await Bun.file(genLog(feeds[i]![0])).text()).trim().split("\n").at(-1)}`);
// the last minute's windows close once the idle watermark (wall clock − lateness 5 s) passes their end
await Bun.sleep(Math.max(20_000, Math.ceil(Date.now() / 60_000) * 60_000 + 15_000 - Date.now()));
await sampleAll();

// correctness after the soak
const rel = await serves[4]!.run(["verify", "--wait", "60"]);
console.log(`verify relational: exit ${rel.code}: ${rel.stdout.trim().split("\n").slice(-4).join(" | ")}`);
const src = postgres(shop, { max: 1, onnotice: () => {}, connection: { TimeZone: "UTC" } });
const whSql = postgres(wh, { max: 1, onnotice: () => {}, connection: { TimeZone: "UTC" } });
const VALID = "customer_id is not null and product_id is not null and quantity > 0 and price >= 0";
const summaryWant = await src.unsafe(`select to_char(created_at::date, 'YYYY-MM-DD') d, lower(trim(both E' \\t\\r\\n' from status)) status, count(*)::int n, sum(quantity*price)::text total
  from orders where ${VALID} group by 1, 2 order by 1, 2`);
const summaryGot = await whSql.unsafe(`select to_char(order_date, 'YYYY-MM-DD') d, status, order_count::int n, total_amount::numeric::text total from daily_order_summary order by 1, 2`);
console.log(`warehouse daily_order_summary = SQL: ${JSON.stringify(summaryGot) === JSON.stringify(summaryWant)} (${summaryWant.length} rows)`);
// windows of this run only: the rows --init seeded are dated 2025-06-01, past the 24-h retention,
// so the generator's updates and deletes of them go to the DLQ and their old windows stay as written
const since = `window_start >= to_timestamp(${Math.floor(t0 / 60_000) * 60})`;
const aggWant = await src.unsafe(`select customer_id, to_char(date_trunc('minute', created_at), 'YYYY-MM-DD HH24:MI') ws, sum(quantity*price)::text gross, count(*)::int n
  from orders where customer_id is not null and ${since.replace("window_start", "date_trunc('minute', created_at)")} group by 1, 2 order by 1, 2`);
const aggGot = await whSql.unsafe(`select customer_id, to_char(window_start, 'YYYY-MM-DD HH24:MI') ws, gross_sales::numeric::text gross, order_count::int n from order_agg
  where customer_id is not null and ${since} order by 1, 2`);
const byWindow = (rows: Iterable<Record<string, unknown>>) => new Map([...rows].map((x) => [`${x.customer_id} ${x.ws}`, `${x.gross} ${x.n}`]));
const [want, got] = [byWindow(aggWant), byWindow(aggGot)];
const missing = [...want.keys()].filter((k) => !got.has(k));
const differ = [...want.keys()].filter((k) => got.has(k) && got.get(k) !== want.get(k));
const extra = [...got.keys()].filter((k) => !want.has(k));
console.log(`orders order_agg vs SQL GROUP BY customer, minute (this run): ${want.size} windows in SQL, ${got.size} written; missing ${missing.length}, differ ${differ.length}, extra ${extra.length}`);
for (const k of [...missing, ...differ, ...extra].slice(0, 5)) console.log(`  ${k}: SQL ${want.get(k) ?? "-"}, order_agg ${got.get(k) ?? "-"}`);

for (const s of serves) console.log(`stop ${s.example}: exit ${await s.stop()}`);
await Promise.all([src.end(), whSql.end(), admin.end(), replicaSql.end()]);
await eng.close();
const my = await mysql.createConnection({ uri: mysqlUrl() });
await my.query(`DROP DATABASE IF EXISTS \`${martDb}\``);
await my.end();
await stopSharedServers();
redisServer.kill();
printSoakReport(csv);
