import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { BASE, errorOf } from "./config-helpers.ts";

describe("config loading", () => {
  test("a valid config gets its defaults", () => {
    const c = parseConfig(BASE, "cdc.yaml", {});
    expect(c.source.slot).toBe("cdc_engine");
    expect(c.source.publication).toBe("cdc_engine");
    expect(c.source.snapshot).toBe("initial");
    expect(c.source.heartbeat_interval).toBe(10_000);
    expect(c.source.memory_budget).toBe(64 * 1024 * 1024);
    expect(c.state.dir).toBe("./.cdc-engine");
    expect(c.state.checkpoint_interval).toBe(30_000);
    expect(c.api.listen).toBe("127.0.0.1:8080");
    expect(c.sinks.wh).toEqual({ name: "wh", type: "postgres", options: expect.objectContaining({ url: "postgres://postgres@127.0.0.1:5432/warehouse", pool: 4 }) });
    expect(c.pipelines[0].from).toEqual(["public.orders", "public.customers"]);
  });

  test("${VAR} and ${VAR:-default} interpolate from the environment", () => {
    const text = BASE.replace("postgres://postgres@127.0.0.1:5432/shop", "${SRC_URL}").replace("url: postgres://postgres@127.0.0.1:5432/warehouse", 'url: "postgres://postgres@${WH_HOST:-localhost}:5432/warehouse"');
    const c = parseConfig(text, "cdc.yaml", { SRC_URL: "postgres://u:p@db:5432/x" });
    expect(c.source.url).toBe("postgres://u:p@db:5432/x");
    expect(c.sinks.wh.options.url).toBe("postgres://postgres@localhost:5432/warehouse");
  });

  test("table names with spaces, dots, quotes and unicode are accepted (split at the first dot)", () => {
    // A Postgres identifier may hold all of these; `from: ["Sales Data.*"]` was refused.
    const from = '["Sales Data.*", "public.Odd \\"Tab\\".x", "ÜnïSchema.Tåble", "public.v1.events", orders]';
    const c = parseConfig(BASE.replace("from: [public.orders, public.customers]", `from: ${from}`), "cdc.yaml", {});
    expect(c.pipelines[0].from).toEqual(["Sales Data.*", 'public.Odd "Tab".x', "ÜnïSchema.Tåble", "public.v1.events", "orders"]);
  });

  test("a single-table mirror may name its key and table, also with several sinks", () => {
    const text = BASE.replace("from: [public.orders, public.customers]", "from: public.readings").replace("to: wh", "to: [{ sink: wh, table: r1, key: [device] }, { sink: lite, table: r2 }]").replace("sinks:\n", "sinks:\n  lite: { type: sqlite, path: ./l.db }\n");
    const c = parseConfig(text, "cdc.yaml", {});
    expect(c.pipelines[0].to).toEqual([{ sink: "wh", table: "r1", key: ["device"] }, { sink: "lite", table: "r2" }]);
  });

  test("durations parse in every unit", () => {
    const c = parseConfig(BASE + "state:\n  checkpoint_interval: 1m\n", "cdc.yaml", {});
    expect(c.state.checkpoint_interval).toBe(60_000);
  });

  const cases: [string, string, string, Record<string, string>?][] = [
    ["missing sink url", BASE.replace(", url: postgres://postgres@127.0.0.1:5432/warehouse", ""), "cdc.yaml: sinks.wh.url: required"],
    ["unknown top-level key", BASE + "extra: 1\n", "cdc.yaml: (root): unknown key 'extra'"],
    // a misspelt required key: the typo is named, not only the key it left missing
    ["misspelt required key", BASE.replace("sinks:", "sink:"), "cdc.yaml: (root): unknown key 'sink' (did you mean 'sinks'?)"],
    ["misspelt from", BASE.replace("    from:", "    fro:"), "cdc.yaml: pipelines.0: unknown key 'fro' (did you mean 'from'?)"],
    ["unknown nested key", BASE.replace("  url: postgres://postgres@127.0.0.1:5432/shop", "  url: postgres://postgres@127.0.0.1:5432/shop\n  slott: x"), "cdc.yaml: source: unknown key 'slott'"],
    ["wrong type", BASE + "state:\n  keep_checkpoints: many\n", "cdc.yaml: state.keep_checkpoints: expected number, got string"],
    ["unknown sink referenced", BASE.replace("to: wh", "to: nowhere"), "cdc.yaml: pipelines.0.to: unknown sink 'nowhere' (defined: wh)"],
    ["unknown sink type", BASE.replace("type: postgres", "type: kafka"), "cdc.yaml: sinks.wh.type: unknown sink type 'kafka'"],
    ["duplicate pipeline name", BASE + "  - name: mirror\n    from: public.x\n    to: wh\n", "cdc.yaml: pipelines.1.name: duplicate pipeline name 'mirror'"],
    ["bad duration", BASE + "state:\n  checkpoint_interval: 30 parsecs\n", "cdc.yaml: state.checkpoint_interval: bad duration '30 parsecs'"],
    ["missing env var", BASE.replace("postgres://postgres@127.0.0.1:5432/shop", "${NOPE_URL}"), "cdc.yaml: source.url: environment variable NOPE_URL is not set and has no default"],
    ["bad enum", BASE.replace("  url: postgres://postgres@127.0.0.1:5432/shop", "  url: postgres://postgres@127.0.0.1:5432/shop\n  snapshot: sometimes"), 'cdc.yaml: source.snapshot: must be one of "initial", "never"'],
    ["no pipelines", BASE.split("pipelines:")[0] + "pipelines: []\n", "cdc.yaml: pipelines: at least one pipeline is required"],
    ["missing source", BASE.replace(/source:\n  url: .*\n/, ""), "cdc.yaml: source: required"],
    ["invalid YAML", "source: [unclosed\n", "cdc.yaml: line"],
    ["bad listen address", BASE + "api:\n  listen: everywhere\n", "cdc.yaml: api.listen: must be HOST:PORT"],
    ["listen port out of range", BASE + "api:\n  listen: 127.0.0.1:99999\n", "cdc.yaml: api.listen: the port must be from 0 to 65535"],
    ["bad source url", BASE.replace("url: postgres://postgres@127.0.0.1:5432/shop", "url: mysql://x"), "cdc.yaml: source.url: must be a postgres:// URL"],
    ["bad sink option type", BASE.replace("type: postgres,", "type: postgres, pool: lots,"), "cdc.yaml: sinks.wh.pool: expected number, got string"],
    // A value of the wrong type where several forms are accepted used to say only "has the wrong shape".
    ["wrong type for a duration", BASE + "state:\n  checkpoint_interval: true\n", "cdc.yaml: state.checkpoint_interval: expected string or number, got boolean"],
    ["wrong type for from", BASE.replace("from: [public.orders, public.customers]", "from: 7"), "cdc.yaml: pipelines.0.from: expected string or array, got number"],
    // to.key / to.table of a mirror of several tables were ignored without a word.
    ["key on a mirror of several tables", BASE.replace("to: wh", "to: { sink: wh, key: [id] }"), "cdc.yaml: pipelines.0.to.key: only a mirror of one table can set key (this one reads 2 table patterns); give that table a pipeline of its own"],
    ["table on a mirror of a schema", BASE.replace("from: [public.orders, public.customers]", "from: public.*").replace("to: wh", "to: { sink: wh, table: copy }"), "cdc.yaml: pipelines.0.to.table: only a mirror of one table can set table (this one reads public.*)"],
    ["two keys on one mirror", BASE.replace("from: [public.orders, public.customers]", "from: public.readings").replace("to: wh", "to: [{ sink: wh, key: [device] }, { sink: lite, table: r2, key: [id] }]").replace("sinks:\n", "sinks:\n  lite: { type: sqlite, path: ./l.db }\n"), "cdc.yaml: pipelines.0.to.1.key: every sink of a mirror gets the same key"],
    // Two writers shared the sink's one position of the pipeline: a crash lost the rows of the slower one.
    ["one pipeline into one sql sink twice", BASE.replace("from: [public.orders, public.customers]", "from: public.orders").replace("to: wh", "to: [{ sink: wh, table: o1 }, { sink: wh, table: o2 }]"), "cdc.yaml: pipelines.0.to.1.sink: pipeline 'mirror' already writes to sink 'wh' (to.0); a pipeline writes to a postgres sink once"],
    // 0 attempts would send nothing (every record straight to the DLQ); the message says what 1 means.
    ["http retry.max_attempts 0", BASE.replace("sinks:\n", "sinks:\n  hook: { type: http, url: https://example.test/hook, retry: { max_attempts: 0 } }\n"), "cdc.yaml: sinks.hook.retry.max_attempts: must be at least 1 (the first attempt counts: 1 sends once, without retrying)"],
    ["http retry.max_attempts negative", BASE.replace("sinks:\n", "sinks:\n  hook: { type: http, url: https://example.test/hook, retry: { max_attempts: -3 } }\n"), "cdc.yaml: sinks.hook.retry.max_attempts: must be at least 1 (the first attempt counts: 1 sends once, without retrying)"],
    ["stray space in a table name", BASE.replace("from: [public.orders, public.customers]", 'from: ["public. orders"]'), "cdc.yaml: pipelines.0.from.0: must be schema.table or schema.*"],
  ];
  for (const [name, text, message] of cases) {
    test(`error: ${name}`, () => {
      const e = errorOf(text);
      expect(e.message).toStartWith(message);
      expect(e.message.includes("\n")).toBe(false);
    });
  }
});
