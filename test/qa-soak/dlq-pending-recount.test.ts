/**
 * Soak finding: the idle tick re-counted cdc_engine_dlq_pending_rows for every pipeline every
 * 10 s (count(*) over the queue's index, on the main thread): ~25 ms per pipeline per million
 * dead letters, and examples/warehouse.yaml's invalid orders add 6 a second at the soak's rate.
 * Now the tick recounts only when another process wrote dlq.sqlite (a CLI purge or replay) or
 * every 10 minutes; the process's own puts increment the gauge, its replays recount.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { DlqStore } from "../../src/dlq/store.ts";
import { runtimeDeadLetters } from "../../src/engine/runtime-dead-letters.ts";
import { ReplayGate } from "../../src/engine/dlq-replayer.ts";
import { dlqPendingRows } from "../../src/metrics/metrics.ts";
import type { Config } from "../../src/config/schema.ts";

const gauge = async (pipeline: string) => (await dlqPendingRows.get()).values.find((v) => v.labels.pipeline === pipeline)?.value;

test("the pending gauge is recounted only when another process changed the queue", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cdc-dlq-recount-"));
  const names = ["fact_orders", "daily_order_summary"].map((n) => `${n}_${Math.random().toString(36).slice(2, 6)}`);
  const store = new DlqStore(dir);
  let counts = 0;
  const count = store.count.bind(store);
  store.count = (p?: string) => (counts++, count(p));
  const config = { pipelines: names.map((name) => ({ name })) } as unknown as Config;
  const dl = runtimeDeadLetters({ config, ownDlq: store, dlq: store, gate: new ReplayGate(), log: pino({ level: "silent" }), currentLsn: () => 1n });
  dl.refreshDlqPending(); // at start
  expect(counts).toBe(2);

  // this process's dead letters: the gauge follows by increment, the tick does not count
  const reject = dl.rejectFor(names[0]!);
  for (let i = 0; i < 50; i++) reject({ row: { order_id: i, customer_id: null }, reason: "customer_id is NULL" });
  for (let i = 0; i < 20; i++) dl.refreshDlqPendingIfChanged();
  expect(counts).toBe(2);
  expect(await gauge(names[0]!)).toBe(50);

  // another process (`cdc-engine dlq purge --pipeline …`): the next tick sees it
  const cli = new DlqStore(dir);
  expect(cli.purge({ pipeline: names[0] })).toBe(50);
  cli.close();
  dl.refreshDlqPendingIfChanged();
  expect(counts).toBe(4);
  expect(await gauge(names[0]!)).toBe(0);
  dl.refreshDlqPendingIfChanged();
  expect(counts).toBe(4);
  store.close();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);
