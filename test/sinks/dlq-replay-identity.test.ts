import { afterAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DlqStore } from "../../src/dlq/store.ts";
import { replayIntoSink } from "../../src/dlq/replay.ts";
import { HttpSink } from "../../src/sinks/http/index.ts";
import { httpSinkConfig } from "../../src/sinks/http/config.ts";
import { BigquerySink } from "../../src/sinks/bigquery/index.ts";
import { bigquerySinkConfig } from "../../src/sinks/bigquery/config.ts";
import { BigQueryServer } from "../helpers/bigquery-server.ts";
import { HttpReceiver } from "../helpers/http-receiver.ts";
import type { Sink } from "../../src/sinks/sink.ts";
import { batch, col, context, OID, rec, table } from "./helpers.ts";

/**
 * A replayed dead letter keeps its record's identity. Replays used index 0, so the webhook got
 * the Idempotency-Key of the transaction's first record (already delivered: a de-duplicating
 * receiver dropped the replay) and BigQuery the insertId of that first row (dropped as a duplicate).
 */
const t = table("events", [col("id", OID.int8, { key: true }), col("name", OID.text), col("n", OID.int4)], ["id"]);
const rows = [1n, 2n, 3n].map((id, i) => rec(t, "upsert", { id, name: id === 2n ? "bad" : `ok${id}`, n: 1 }, 500n, i, { commitTime: 1_700_000_000_000_000n }));
const bq = new BigQueryServer("demo-project");
const rx = new HttpReceiver({ decide: ({ body }) => (rejecting && body.includes('"bad"') ? { status: 422 } : { status: 200 }) });
let rejecting = true;
afterAll(() => {
  bq.stop();
  rx.stop();
});

async function deadLettered(sink: Sink, name: string): Promise<{ store: DlqStore; ctx: ReturnType<typeof context> }> {
  const dir = mkdtempSync(join(tmpdir(), "cdc-dlq-id-"));
  const store = new DlqStore(dir);
  const ctx = context(name, [{ pipeline: "p", options: { table: "events" } }], dir);
  ctx.deadLetter = ((r, error, pipeline) => store.putRecord(pipeline ?? "p", name, r, error)) as typeof ctx.deadLetter;
  await sink.open(ctx);
  await sink.write(batch("p", rows));
  return { store, ctx };
}

test("http: the replayed record is sent under its own Idempotency-Key and arrives", async () => {
  rejecting = true;
  const sink = new HttpSink(httpSinkConfig.parse({ url: rx.url, payload: "envelope", batch_size: 10, retry: { max_attempts: 2, initial_delay: "10ms" } }));
  const { store } = await deadLettered(sink, "hook");
  const [e] = store.list();
  expect([e.row.id, e.index]).toEqual([2n, 1]);
  rejecting = false;
  const result = { replayed: 0, failed: [], skipped: [], superseded: [] };
  await replayIntoSink(sink, "http", store.list(), store, result, { take: () => null });
  expect(result.replayed).toBe(1);
  expect([...rx.byKey.keys()].sort()).toEqual(["p:500:0", "p:500:1", "p:500:2"]);
  const [replayed] = JSON.parse(rx.byKey.get("p:500:1")!);
  expect([replayed.after.id, replayed.source.index, replayed.source.ts_ms]).toEqual([2, 1, 1_700_000_000_000]);
  expect(store.count()).toBe(0);
  await sink.close();
});

test("bigquery: the replayed row gets its own insertId and is stored", async () => {
  const sink = new BigquerySink(bigquerySinkConfig.parse({ access_token: "test-token", project: "demo-project", api_endpoint: bq.endpoint, dataset: "replay_id", metadata_columns: false }));
  const bad = { ...rows[1], row: { ...rows[1].row, n: "x" as unknown as number } }; // BigQuery refuses it
  rows[1] = bad;
  const { store } = await deadLettered(sink, "bq");
  expect(store.list().map((e) => [e.row.id, e.index])).toEqual([[2n, 1]]);
  const [e] = store.list();
  e.row.n = 2; // fixed, as an operator would before replaying
  const result = { replayed: 0, failed: [], skipped: [], superseded: [] };
  await replayIntoSink(sink, "bigquery", [e], store, result, { take: () => null });
  expect(result.replayed).toBe(1);
  expect(bq.table("replay_id", "events")!.rows.map((r) => r.id).sort()).toEqual(["1", "2", "3"]);
  await sink.close();
});
