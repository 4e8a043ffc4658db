import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { BASE, messageOf } from "./config-helpers.ts";

/** `${VAR}` in number, boolean and string fields, and empty variables (QA: env-driven Docker/systemd configs). */


describe("${VAR} in number and boolean fields", () => {
  test("a default or a set variable fills a number field, unquoted or quoted", () => {
    const text = BASE + "state:\n  keep_checkpoints: ${QA_KC:-3}\n";
    expect(parseConfig(text, "cdc.yaml", {}).state.keep_checkpoints).toBe(3);
    expect(parseConfig(text, "cdc.yaml", { QA_KC: "7" }).state.keep_checkpoints).toBe(7);
    const pool = BASE.replace("type: postgres,", "type: postgres, pool: \"${QA_POOL:-2}\", batch_size: '${QA_BS}',");
    expect(parseConfig(pool, "cdc.yaml", { QA_BS: "250" }).sinks.wh.options).toMatchObject({ pool: 2, batch_size: 250 });
  });

  test("booleans and fractions", () => {
    const text = BASE.replace("  url: postgres://postgres@127.0.0.1:5432/shop", "  url: postgres://postgres@127.0.0.1:5432/shop\n  binary: ${QA_BIN:-false}\n  two_phase: ${QA_2PC}\n  slot_lag_warn_ratio: ${QA_RATIO}");
    const c = parseConfig(text, "cdc.yaml", { QA_2PC: "true", QA_RATIO: "0.5" });
    expect([c.source.binary, c.source.two_phase, c.source.slot_lag_warn_ratio]).toEqual([false, true, 0.5]);
  });

  test("pipeline and sink-target fields, also inside a union (bigquery partition range)", () => {
    const text = BASE.replace("sinks:\n", "sinks:\n  bq: { type: bigquery, project: p, dataset: d, access_token: t }\n  cache: { type: redis }\n") +
      "    paused: ${QA_PAUSED}\n" +
      "  - name: bq\n    from: public.events\n    to: { sink: bq, partition: { range: { field: b, start: '${QA_START}', end: '100', interval: '${QA_IV:-5}' } } }\n" +
      "  - name: st\n    from: public.events\n    to: { sink: cache, type: stream, key_template: s, maxlen: '${QA_MAX:-1000}', replace: '${QA_REPL:-true}' }\n";
    const c = parseConfig(text, "cdc.yaml", { QA_PAUSED: "true", QA_START: "-10" });
    expect(c.pipelines[0].paused).toBe(true);
    // written back as literals: the sinks parse their target options again
    expect(c.pipelines[1].to).toMatchObject({ partition: { range: { start: -10, end: 100, interval: 5 } } });
    expect(c.pipelines[2].to).toMatchObject({ maxlen: 1000, replace: true });
  });

  test("a string field keeps a number-looking value as text", () => {
    const text = BASE.replace("sinks:\n", "sinks:\n  cache: { type: redis, password: '${DB_PASS}', key_prefix: '${QA_PREFIX}' }\n");
    const c = parseConfig(text, "cdc.yaml", { DB_PASS: "12345", QA_PREFIX: "true" });
    expect(c.sinks.cache.options).toMatchObject({ password: "12345", key_prefix: "true" });
  });

  const errors: [string, string, Record<string, string>, string][] = [
    ["a number with garbage", BASE + "state:\n  keep_checkpoints: ${QA_KC:-3x}\n", {}, "cdc.yaml: state.keep_checkpoints: expected number, got string"],
    ["a boolean where a number is expected", BASE.replace("type: postgres,", 'type: postgres, pool: "${QA_POOL}",'), { QA_POOL: "true" }, "cdc.yaml: sinks.wh.pool: expected number, got string"],
    ["yes for a boolean", BASE.replace("  url: postgres://postgres@127.0.0.1:5432/shop", "  url: postgres://postgres@127.0.0.1:5432/shop\n  binary: ${QA_BIN}"), { QA_BIN: "yes" }, "cdc.yaml: source.binary: expected boolean, got string"],
    ["a fraction for an integer", BASE + "state:\n  keep_checkpoints: ${QA_KC}\n", { QA_KC: "2.5" }, "cdc.yaml: state.keep_checkpoints: expected an integer, got number"],
    ["a number below the minimum", BASE.replace("type: postgres,", 'type: postgres, pool: "${QA_POOL}",'), { QA_POOL: "0" }, "cdc.yaml: sinks.wh.pool: must be >= 1"],
    ["an empty variable", BASE.replace("postgres://postgres@127.0.0.1:5432/shop", "${QA_EMPTY}"), { QA_EMPTY: "" }, "cdc.yaml: source.url: environment variable QA_EMPTY is empty and has no default (write ${QA_EMPTY:-} to allow an empty value)"],
    ["an unset variable", BASE.replace("postgres://postgres@127.0.0.1:5432/shop", "${QA_UNSET}"), {}, "cdc.yaml: source.url: environment variable QA_UNSET is not set and has no default"],
  ];
  for (const [name, text, env, message] of errors) {
    test(`error: ${name}`, () => expect(messageOf(text, env)).toBe(message));
  }

  test("an empty variable takes the :- default (shell semantics); ${X:-} allows empty", () => {
    const text = BASE.replace("postgres://postgres@127.0.0.1:5432/shop", "${QA_EMPTY:-postgres://db/shop}").replace("type: postgres,", "type: postgres, schema: 'x${QA_EMPTY:-}',");
    const c = parseConfig(text, "cdc.yaml", { QA_EMPTY: "" });
    expect(c.source.url).toBe("postgres://db/shop");
    expect(c.sinks.wh.options.schema).toBe("x");
  });
});
