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
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { waitUntil } from "../helpers/wait-for.ts";
import { TcpProxy } from "../sinks/helpers.ts";

/**
 * /health tells the truth about a real engine (real Postgres source and sink, each behind a
 * TCP proxy we cut): 503 with the reason while the source reconnects, while the sink is down,
 * and once the checkpoint is older than 3× its interval; 200 again when they are back.
 */
type Report = { status: string; reason?: string; components: Record<string, { status: string; reason?: string }> };

let rt: Runtime | null = null;
let sql: postgres.Sql | null = null;
let slot = "";
afterAll(async () => {
  await rt?.stop().catch(() => {});
  await sql?.unsafe(`select pg_drop_replication_slot('${slot}') where exists (select 1 from pg_replication_slots where slot_name = '${slot}' and not active)`).catch(() => {});
  await sql?.end();
});

describe("/health of a running engine", () => {
  test("503 with the reason: source reconnecting, sink down, checkpoint stale; 200 once they are back", async () => {
    const pg = await sharedPg("system");
    const db = await createDatabase(pg, "hl");
    const sinkDb = await createDatabase(pg, "hlsink");
    sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
    await sql.unsafe("create table items (id int primary key, v text)");
    const url = new URL(pg.url(db));
    const srcProxy = new TcpProxy(url.hostname, Number(url.port)).start();
    const sinkProxy = new TcpProxy(url.hostname, Number(url.port)).start();
    const via = (p: TcpProxy, d: string) => pg.url(d).replace(`:${url.port}/`, `:${p.port}/`);
    slot = `hl_${db.slice(3)}`;
    const cfg = parseConfig(
      `source: { url: "${via(srcProxy, db)}", slot: ${slot}, publication: ${slot}, heartbeat_interval: 1s }
state: { dir: "${mkdtempSync(join(tmpdir(), "cdc-hl-"))}", checkpoint_interval: 300ms }
sinks:
  pg: { type: postgres, url: "${via(sinkProxy, sinkDb)}", batch_delay: 10ms }
pipelines:
  - { name: items, from: public.items, to: pg }
`,
      "test.yaml",
      {},
    );
    rt = await startRuntime(cfg, createLogger({ level: "silent" }), {});
    const app = createApp({ components: () => rt!.components(), runtime: rt });
    const health = async () => {
      const res = await app.request("/health");
      return { code: res.status, body: (await res.json()) as Report };
    };
    // Streaming, not still in start-up: the source reports "up" with reason "snapshot" while it
    // snapshots (empty here) and finishes preparing; a cut then fails the start, not the stream.
    await waitUntil("healthy and streaming", async () => {
      const h = await health();
      return h.code === 200 && h.body.components.source.reason !== "snapshot";
    });
    const ok = await health();
    expect(ok.body.status).toBe("up");
    expect(ok.body.reason).toBeUndefined();

    // Source: connection cut, it keeps reconnecting while the proxy is down.
    srcProxy.cut();
    const reconnecting = await waitUntil("source reconnecting", async () => {
      const h = await health();
      // (the runtime ended: say why instead of waiting for a reconnect that cannot come)
      if (h.body.components.source.reason === "stopped") throw new Error(`runtime ended: ${JSON.stringify(rt!.status().errors)}`);
      return h.code === 503 && h.body.components.source.status !== "up" ? h : null;
    });
    expect(reconnecting.body.status).toBe("down");
    expect(reconnecting.body.components.source.reason).toMatch(/reconnecting/);
    expect(reconnecting.body.reason).toContain("source: reconnecting");
    expect((await app.request("/health/source")).status).toBe(503);
    srcProxy.start();
    await waitUntil("source back", async () => (await health()).code === 200, 60_000);

    // Sink down with a row to write: the sink is down at once, the checkpoint soon stale.
    sinkProxy.cut();
    await sql.unsafe("insert into items values (1, 'one')");
    const stale = await waitUntil("sink down and checkpoint stale", async () => {
      const h = await health();
      return h.code === 503 && h.body.components["sink:pg"].status === "down" && h.body.components.checkpoint.status === "down" ? h : null;
    });
    expect(stale.body.components.checkpoint.reason).toMatch(/^last checkpoint \d+ s ago, more than 3× the 0.3 s interval/);
    expect(stale.body.reason).toContain("sink:pg: ");
    expect(stale.body.reason).toContain("checkpoint: last checkpoint");
    expect((await app.request("/health/checkpoint")).status).toBe(503);
    expect((await app.request("/health/sink:pg")).status).toBe(503);

    // The outage shows in the metrics too: retries counted, the sink marked down.
    const during = await (await app.request("/metrics")).text();
    expect(Number(/^cdc_engine_sink_retries_total\{sink="pg"\} (\d+)$/m.exec(during)?.[1] ?? 0)).toBeGreaterThan(0);
    expect(during).toMatch(/^cdc_engine_sink_up\{sink="pg"\} 0$/m);
    expect(Number(/^cdc_engine_checkpoint_age_seconds (\S+)$/m.exec(during)?.[1] ?? 0)).toBeGreaterThan(0.5);

    sinkProxy.start();
    await waitUntil("all back", async () => (await health()).code === 200, 60_000);
    expect(await (await app.request("/metrics")).text()).toMatch(/^cdc_engine_sink_up\{sink="pg"\} 1$/m);
    const dst = postgres(pg.url(sinkDb), { max: 1, onnotice: () => {} });
    try {
      expect([...(await dst.unsafe("select id, v from public.items"))] as unknown[]).toEqual([{ id: 1, v: "one" }]);
    } finally {
      await dst.end();
    }
    await rt.stop();
    expect(await rt.done).toBeNull();
    rt = null;
    srcProxy.cut();
    sinkProxy.cut();
  }, 120_000);
});
