/**
 * /health of a pipeline while its MariaDB sink is down (behind a TCP proxy we cut). The mysql sink
 * retries inside its own write, so the writer never saw a failure: /health/sink:my was down but
 * /health/pipeline:<name> stayed up for the outage (QA: 30 s of 40, until the stuck-write report).
 * README: a pipeline is degraded while a sink of it fails.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { parseConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/log.ts";
import { startRuntime } from "../../src/engine/runtime.ts";
import { createApp } from "../../src/api/app.ts";
import type { Runtime } from "../../src/engine/runtime-types.ts";
import { createDatabase, requireMysql, sharedPg } from "../helpers/index.ts";
import { waitUntil } from "../helpers/wait-for.ts";
import { TcpProxy, uniq } from "../sinks/helpers.ts";

let rt: Runtime | null = null;
let sql: postgres.Sql | null = null;
let slot = "";
afterAll(async () => {
  await rt?.stop().catch(() => {});
  await sql?.unsafe(`select pg_drop_replication_slot('${slot}') where exists (select 1 from pg_replication_slots where slot_name = '${slot}' and not active)`).catch(() => {});
  await sql?.end();
});

describe("/health/pipeline while its mysql sink is down", () => {
  test("degraded with the sink's reason, up again once it is back", async () => {
    const mysqlUrl = new URL(await requireMysql());
    const pg = await sharedPg("system");
    const db = await createDatabase(pg, "qaph");
    sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
    await sql.unsafe("create table items (id int primary key, v text)");
    const proxy = new TcpProxy(mysqlUrl.hostname, Number(mysqlUrl.port || 3306)).start();
    const database = uniq("qaph");
    const sinkUrl = new URL(mysqlUrl);
    sinkUrl.port = String(proxy.port);
    slot = `qaph_${db.slice(5)}`;
    const cfg = parseConfig(
      `source: { url: "${pg.url(db)}", slot: ${slot}, publication: ${slot}, heartbeat_interval: 1s }
state: { dir: "${mkdtempSync(join(tmpdir(), "cdc-qaph-"))}", checkpoint_interval: 1s }
sinks:
  my: { type: mysql, url: "${sinkUrl.href}", database: ${database}, batch_delay: 10ms }
pipelines:
  - { name: items, from: public.items, to: my }
`,
      "test.yaml",
      {},
    );
    rt = await startRuntime(cfg, createLogger({ level: "silent" }), {});
    const app = createApp({ components: () => rt!.components(), runtime: rt });
    const health = async (c: string) => {
      const res = await app.request(`/health/${c}`);
      return { code: res.status, body: (await res.json()) as { status: string; reason?: string } };
    };
    await waitUntil("healthy", async () => (await app.request("/health")).status === 200);

    proxy.cut();
    await sql.unsafe("insert into items values (1, 'one')");
    await waitUntil("sink:my down", async () => (await health("sink:my")).code === 503, 20_000);
    // Within a few seconds of the sink, not 30 s later.
    const p = await waitUntil("pipeline:items degraded", async () => {
      const h = await health("pipeline:items");
      return h.code === 503 ? h : null;
    }, 5_000);
    expect(p.body.status).toBe("degraded");
    expect(p.body.reason).toMatch(/^sink my: /);

    proxy.start();
    await waitUntil("pipeline up again", async () => (await health("pipeline:items")).code === 200, 60_000);
    await rt.stop();
    rt = null;
    proxy.cut();
  }, 90_000);
});
