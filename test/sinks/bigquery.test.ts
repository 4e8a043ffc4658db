import { afterAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BigquerySink, bigquerySink } from "../../src/sinks/bigquery/index.ts";
import { bigquerySinkConfig } from "../../src/sinks/bigquery/config.ts";
import { BigQueryServer } from "../helpers/bigquery-server.ts";
import { ServiceAccountTokens, tokenSource } from "../../src/sinks/bigquery/auth.ts";
import { batch, col, context, numericMod, OID, rec, table } from "./helpers.ts";

const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const server = new BigQueryServer("demo-project", publicKey);
afterAll(() => server.stop());

function keyFile(key = privateKey): string {
  const path = join(mkdtempSync(join(tmpdir(), "cdc-bq-")), "sa.json");
  writeFileSync(path, JSON.stringify({ type: "service_account", project_id: "demo-project", client_email: "cdc@demo-project.iam.gserviceaccount.com", private_key: key.export({ type: "pkcs8", format: "pem" }), private_key_id: "k1", token_uri: server.tokenUri }));
  return path;
}

const events = table(
  "engagement_events",
  [
    col("id", OID.int8, { key: true }),
    col("content_type", OID.text),
    col("event_type", OID.text),
    col("event_ts", OID.timestamptz),
    col("duration_ms", OID.int4),
    col("engagement_seconds", OID.numeric, { typeMod: numericMod(12, 3) }),
    col("raw_payload", OID.jsonb),
    col("local_ts", OID.timestamp),
    col("d", OID.date),
    col("ok", OID.bool),
    col("bin", OID.bytea),
  ],
  ["id"],
);
const row = (id: bigint, ts = "2024-05-01 10:29:59.999999+00") => ({ id, content_type: "podcast", event_type: "play", event_ts: ts, duration_ms: 1500, engagement_seconds: "1.500", raw_payload: '{"n": 12345678901234567890}', local_ts: "2024-05-01 12:00:00.000001", d: "2024-05-01", ok: true, bin: new Uint8Array([1, 2, 3]) });

// SCENARIOS.md: 30-minute partitions = integer-range partitioning on a half-hour bucket column.
const engagementTarget = {
  dataset: "analytics",
  half_hour_bucket: { from: "event_ts", column: "event_half_hour" },
  partition: { range: { field: "event_half_hour", start: 946_000, end: 956_000, interval: 1 } },
  cluster_by: ["content_type", "event_type"],
};

describe("bigquery sink (local REST server)", () => {
  test("service-account key → token; dataset and partitioned, clustered table created; exact values", async () => {
    const cfg = bigquerySinkConfig.parse({ credentials_file: keyFile(), api_endpoint: server.endpoint, flush_interval: "30s" });
    expect(cfg.batch_delay).toBe(30_000);
    expect(await bigquerySink.check(cfg)).toBe(`project demo-project at ${server.endpoint}`);
    const s = new BigquerySink(cfg);
    await s.open(context("bq", [{ pipeline: "eng", options: { table: "engagement_events", ...engagementTarget } }]));
    await s.write(batch("eng", [rec(events, "upsert", row(9007199254740993n), 500n, 0, { commitTime: 1_714_559_399_123_456n }), rec(events, "upsert", row(2n, "2024-05-01 12:30:00+02"), 500n, 1)]));
    await s.close();
    const t = server.table("analytics", "engagement_events")!;
    expect(t.resource.rangePartitioning).toEqual({ field: "event_half_hour", range: { start: "946000", end: "956000", interval: "1" } });
    expect(t.resource.clustering).toEqual({ fields: ["content_type", "event_type"] });
    expect(Object.fromEntries(t.resource.schema.fields.map((f) => [f.name, f.type]))).toMatchObject({ id: "INT64", event_ts: "TIMESTAMP", engagement_seconds: "NUMERIC", raw_payload: "JSON", local_ts: "DATETIME", d: "DATE", ok: "BOOL", bin: "BYTES", event_half_hour: "INT64", _cdc_lsn: "INT64" });
    expect(t.rows).toEqual([
      { id: "9007199254740993", content_type: "podcast", event_type: "play", event_ts: "2024-05-01T10:29:59.999999Z", duration_ms: "1500", engagement_seconds: "1.500", raw_payload: '{"n": 12345678901234567890}', local_ts: "2024-05-01 12:00:00.000001", d: "2024-05-01", ok: true, bin: "AQID", event_half_hour: "952532", _cdc_op: "upsert", _cdc_lsn: "500", _cdc_commit_ts: "2024-05-01T10:29:59.123456Z" },
      expect.objectContaining({ id: "2", event_ts: "2024-05-01T10:30:00.000000Z", event_half_hour: "952533" }),
    ]);
  });

  test("replay after restart: the position skips delivered batches; without it, insertIds drop the duplicates", async () => {
    const target = { pipeline: "eng", options: { table: "replay_events", dataset: "analytics" } };
    const cfg = bigquerySinkConfig.parse({ access_token: "test-token", project: "demo-project", api_endpoint: server.endpoint });
    const t = { ...events, name: "replay_events" };
    const batches = [1, 2, 3].map((n) => batch("eng", [rec(t, "upsert", row(BigInt(n * 10)), BigInt(n * 100)), rec(t, "upsert", row(BigInt(n * 10 + 1)), BigInt(n * 100), 1)]));
    const ctx = context("bq", [target]);
    const s1 = new BigquerySink(cfg);
    await s1.open(ctx);
    for (const b of batches) await s1.write(b);
    await s1.close();
    const calls = server.requests.filter((r) => r.path.endsWith("replay_events/insertAll")).length;
    const s2 = new BigquerySink(cfg);
    await s2.open(context("bq", [target], ctx.stateDir));
    expect(s2.position("eng")).toBe(300n);
    for (const b of batches) await s2.write(b);
    await s2.close();
    expect(server.requests.filter((r) => r.path.endsWith("replay_events/insertAll")).length).toBe(calls);
    // State dir lost: everything is sent again, and BigQuery's insertId dedup keeps one copy.
    const s3 = new BigquerySink(cfg);
    await s3.open(context("bq", [target]));
    for (const b of batches) await s3.write(b);
    await s3.close();
    const ids = server.table("analytics", "replay_events")!.rows.map((r) => r.id);
    expect(ids).toEqual(["10", "11", "20", "21", "30", "31"]);
  });

  test("API down (503s): retries with backoff, health down, then everything arrives once", async () => {
    const cfg = bigquerySinkConfig.parse({ access_token: "test-token", project: "demo-project", api_endpoint: server.endpoint, max_backoff: "100ms", dataset: "analytics" });
    const s = new BigquerySink(cfg);
    await s.open(context("bq", [{ pipeline: "eng", options: { table: "outage_events" } }]));
    const t = { ...events, name: "outage_events" };
    await s.write(batch("eng", [rec(t, "upsert", row(1n), 10n)]));
    server.failNext(1000, 503);
    let done = false;
    const pending = s.write(batch("eng", [rec(t, "upsert", row(2n), 20n), rec(t, "upsert", row(3n), 20n, 1)])).then(() => (done = true));
    await Bun.sleep(600);
    expect(done).toBe(false);
    expect((await s.health()).status).toBe("down");
    server.clearFailures();
    await pending;
    expect((await s.health()).status).toBe("up");
    await s.close();
    expect(server.table("analytics", "outage_events")!.rows.map((r) => r.id)).toEqual(["1", "2", "3"]);
  }, 60_000);

  test("rows BigQuery refuses (and values it cannot hold) go to the DLQ; the rest is inserted; new columns are added", async () => {
    const cfg = bigquerySinkConfig.parse({ access_token: "test-token", project: "demo-project", api_endpoint: server.endpoint, dataset: "analytics", metadata_columns: false });
    const s = new BigquerySink(cfg);
    const ctx = context("bq", [{ pipeline: "eng", options: { table: "dlq_events" } }]);
    await s.open(ctx);
    const t = { ...events, name: "dlq_events" };
    await s.write(
      batch("eng", [
        rec(t, "upsert", row(1n), 10n),
        rec(t, "upsert", { ...row(2n), engagement_seconds: "123456789012345678901234567890.5" }, 10n, 1),
        rec(t, "upsert", { ...row(3n), event_ts: "infinity" }, 10n, 2),
        rec(t, "upsert", row(4n), 10n, 3),
      ]),
    );
    const t2 = { ...t, columns: [...t.columns, col("device", OID.text)] };
    await s.write(batch("eng", [rec(t2, "upsert", { ...row(5n), device: "ios" }, 20n)]));
    await s.close();
    const stored = server.table("analytics", "dlq_events")!;
    expect(stored.rows.map((r) => [r.id, r.device ?? null])).toEqual([["1", null], ["4", null], ["5", "ios"]]);
    expect(stored.resource.schema.fields.at(-1)).toEqual({ name: "device", type: "STRING", mode: "NULLABLE" });
    expect(ctx.dead.map((d) => [d.record.row.id, d.error])).toEqual([
      [3n, "timestamp 'infinity' is outside the target's DATETIME range"],
      [2n, "invalid (engagement_seconds): Cannot convert value to NUMERIC"],
    ]);
  });

  test("requests stay under the 10 MB insertAll limit; a row larger than that goes to the DLQ", async () => {
    const cfg = bigquerySinkConfig.parse({ access_token: "test-token", project: "demo-project", api_endpoint: server.endpoint, dataset: "analytics" });
    const s = new BigquerySink(cfg);
    const ctx = context("bq", [{ pipeline: "eng", options: { table: "big_events" } }]);
    await s.open(ctx);
    const t = { ...events, name: "big_events" };
    const mb = (n: number) => "x".repeat(n * 1024 * 1024);
    await s.write(batch("eng", [1, 2, 3].map((i) => rec(t, "upsert", { ...row(BigInt(i)), content_type: mb(4) }, 10n, i)).concat([rec(t, "upsert", { ...row(4n), content_type: mb(10) }, 10n, 4)])));
    await s.close();
    expect(server.requests.filter((r) => r.path.endsWith("big_events/insertAll")).length).toBe(2);
    expect(server.table("analytics", "big_events")!.rows.map((r) => r.id)).toEqual(["1", "2", "3"]);
    expect(ctx.dead.map((d) => d.record.row.id)).toEqual([4n]);
    expect(ctx.dead[0].error).toMatch(/^row is \d+ bytes; an insertAll request holds at most 9437184$/);
  }, 30_000);

  test("bad key or no credentials: one clear line at check and at open", async () => {
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const bad = bigquerySinkConfig.parse({ credentials_file: keyFile(other), api_endpoint: server.endpoint, dataset: "analytics" });
    expect(bigquerySink.check(bad)).rejects.toThrow(/token exchange at .*\/token failed: HTTP 400 invalid_grant Invalid JWT Signature/);
    expect(new BigquerySink(bad).open(context("bq", [{ pipeline: "p", options: {} }]))).rejects.toThrow(/\[sink:bq\] .*invalid_grant/);
    const none = bigquerySinkConfig.parse({ api_endpoint: server.endpoint, project: "demo-project", dataset: "analytics" });
    const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
    delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
    try {
      expect(bigquerySink.check(none)).rejects.toThrow(/no credentials: set credentials_file or access_token, or GOOGLE_APPLICATION_CREDENTIALS/);
    } finally {
      if (saved !== undefined) process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
    }
    expect(bigquerySinkConfig.safeParse({ flush_interval: "45s" }).success).toBe(false);
    // $GOOGLE_APPLICATION_CREDENTIALS names the key file when the config does not.
    const fromEnv = tokenSource({}, { GOOGLE_APPLICATION_CREDENTIALS: keyFile() });
    expect(fromEnv).toBeInstanceOf(ServiceAccountTokens);
    expect(fromEnv.projectId).toBe("demo-project");
    expect(await fromEnv.token()).toStartWith("ya29.test-");
  });
});
