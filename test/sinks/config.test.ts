import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";

const base = `source: {url: "postgres://u@localhost/db"}
sinks:
  cache: {type: redis, url: "redis://127.0.0.1:6379", key_prefix: "eng:"}
  bq: {type: bigquery, project: p1, dataset: analytics, credentials_file: /etc/sa.json, flush_interval: 30s}
  hook: {type: http, url: "https://example.test/hook", payload: envelope, hmac_secret: "\${HOOK_SECRET}", retry: {max_attempts: 5}, breaker: {failures: 3, half_open_after: 10s}}
  mart: {type: mysql, url: "mysql://root@127.0.0.1:3306", dialect: starrocks, database: ecommerce_ods_clean, buckets: 8}
`;

describe("sink config blocks and per-pipeline targets", () => {
  test("the engagement example validates", () => {
    const cfg = parseConfig(
      base +
        `pipelines:
  - name: stats
    from: public.engagement_events
    to:
      - {sink: cache, type: hash, key_template: "content_stats:{content_id}", ttl: 24h}
      - {sink: cache, type: zset, key_template: "top_engagement:10min", member: content_id, score: total_engagement_seconds}
  - name: events
    from: public.engagement_events
    to:
      - sink: bq
        table: engagement_events
        half_hour_bucket: {from: event_ts, column: event_half_hour}
        partition: {range: {field: event_half_hour, start: 946000, end: 956000, interval: 1}}
        cluster_by: [content_type, event_type]
      - hook
  - name: orders
    from: public.orders
    to: {sink: mart, table: ods_orders, key: [order_id], buckets: 4}
`,
      "cdc.yaml",
      { HOOK_SECRET: "s3cret" },
    );
    expect(cfg.sinks.hook.options).toMatchObject({ method: "POST", payload: "envelope", hmac_secret: "s3cret", retry: { max_attempts: 5, initial_delay: 200 }, breaker: { failures: 3, half_open_after: 10_000 } });
    expect(cfg.sinks.bq.options).toMatchObject({ flush_interval: 30_000, batch_delay: 30_000, rows_per_request: 500 });
    expect(cfg.sinks.mart.options).toMatchObject({ dialect: "starrocks", database: "ecommerce_ods_clean", buckets: 8 });
  });

  test("mistakes are one line naming the key", () => {
    const bad = (pipelines: string, sinks = base) => {
      try {
        parseConfig(sinks + "pipelines:\n" + pipelines, "cdc.yaml", { HOOK_SECRET: "x" });
        return "no error";
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(bad(`  - {name: a, from: t, to: {sink: cache, type: zset, key_template: k, member: m}}\n`)).toBe("cdc.yaml: pipelines.0.to.score: required for type zset");
    expect(bad(`  - {name: a, from: t, to: {sink: cache, type: list, key_template: k}}\n`)).toMatch(/^cdc\.yaml: pipelines\.0\.to\.type: /);
    expect(bad(`  - {name: a, from: t, to: {sink: bq, cluster_by: [a, b, c, d, e]}}\n`)).toMatch(/^cdc\.yaml: pipelines\.0\.to\.cluster_by: /);
    expect(bad(`  - {name: a, from: t, to: hook}\n`, base.replace("payload: envelope", "payload: xml"))).toMatch(/^cdc\.yaml: sinks\.hook\.payload: /);
    expect(bad(`  - {name: a, from: t, to: mart}\n`, base.replace('url: "mysql://root@127.0.0.1:3306"', 'url: "postgres://x"'))).toBe("cdc.yaml: sinks.mart.url: must be a mysql:// URL");
    expect(bad(`  - {name: a, from: t, to: bq}\n`, base.replace("flush_interval: 30s", "flush_interval: 2m"))).toBe("cdc.yaml: sinks.bq.flush_interval: at most 30s");
  });
});
