/**
 * docs/dashboard.png from a real run: the compiled binary mirrors a Postgres table into SQLite
 * while this script inserts and updates rows, and headless Chromium photographs the dashboard.
 *   bun test/ops/dashboard-screenshot.ts [seconds=90] [out=docs/dashboard.png]
 */
import { mkdtempSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { chromium } from "playwright-core";
import { binaryPath, createDatabase, freePort, sharedPg, stopSharedServers } from "../helpers/index.ts";

const secs = Number(process.argv[2] ?? 90);
const pg = await sharedPg("system");
const db = await createDatabase(pg, "shot");
const sql = postgres(pg.url(db), { max: 2, onnotice: () => {} });
await sql.unsafe("create table customers (id int primary key, name text, visits int default 0)");
await sql.unsafe("create table orders (id bigserial primary key, customer_id int, amount numeric(12,2), status text, created_at timestamptz default now())");
const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), "cdc-shot-"));
const cfg = join(dir, "cdc.yaml");
writeFileSync(cfg, `source:\n  url: ${pg.url(db)}\nstate:\n  dir: ${dir}/state\n  checkpoint_interval: 5s\napi:\n  listen: 127.0.0.1:${port}\nlog:\n  level: warn\nsinks:\n  wh: { type: sqlite, path: ${dir}/wh.db }\npipelines:\n  - { name: orders_mirror, from: public.orders, to: wh }\n  - { name: customers_mirror, from: public.customers, to: wh }\n`);
chmodSync(cfg, 0o600);
const proc = Bun.spawn([await binaryPath(), "serve", "--config", cfg], { cwd: dir, stdout: "ignore", stderr: "inherit" });
const base = `http://127.0.0.1:${port}`;
for (let i = 0; i < 200; i++) { try { if ((await fetch(base + "/health")).status === 200) break; } catch {} await Bun.sleep(100); }
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
await page.goto(base + "/");
const t0 = Date.now();
let n = 0;
while (Date.now() - t0 < secs * 1000) {
  const k = 200 + Math.round(150 * Math.sin((Date.now() - t0) / 8000));
  await sql.unsafe(`insert into orders (customer_id, amount, status) select (random()*1000)::int, round((random()*500)::numeric, 2), 'new' from generate_series(1, ${k})`);
  await sql.unsafe(`insert into customers select g, 'customer ' || g from generate_series(${n * 20}, ${n * 20 + 19}) g on conflict (id) do update set visits = customers.visits + 1`);
  if (n % 5 === 0) await sql.unsafe(`update orders set status = 'paid' where id % 7 = ${n % 7} and status = 'new'`);
  n++;
  await Bun.sleep(250);
}
await page.screenshot({ path: process.argv[3] ?? join(import.meta.dir, "../../docs/dashboard.png"), fullPage: true });
console.log(await (await fetch(base + "/status")).text());
await browser.close();
proc.kill("SIGTERM");
console.log("exit", await proc.exited);
await sql.end();
await stopSharedServers();
