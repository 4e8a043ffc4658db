/**
 * A Redis `to:` option naming a column the pipeline does not output (key_template, zset
 * member/score, string value, hash fields) sent every row to the DLQ. Now it is a config error
 * (exit 2, one line naming file and pipeline) once the columns are known: at check, and at serve
 * with a table's first change. These run the serve path of a mirror without services;
 * test/engine/config-at-start.test.ts runs check and serve against a real source.
 */
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { checkTargetColumns } from "../../src/config/target-columns.ts";
import { createRunner } from "../../src/engine/create-runner.ts";
import { CdcError } from "../../src/errors.ts";
import type { Relation, Txn } from "../../src/types.ts";

const config = (from: string, to: string) =>
  parseConfig(
    `source: { url: postgres://x@127.0.0.1/db }
sinks:
  rd: { type: redis }
  wh: { type: postgres, url: postgres://x@127.0.0.1/wh }
pipelines:
  - name: p
    from: ${from}
    to: ${to}
`,
    "cdc.yaml",
    {},
  );

const col = (name: string) => ({ name, typeOid: 25, typeMod: -1, isKey: name === "id" });
const rel = (table: string, ...cols: string[]): Relation => ({ id: 1, schema: table.split(".")[0], name: table.split(".")[1], table, replicaIdentity: "d", columns: cols.map(col) });
const txn = (r: Relation): Txn => ({ lsn: 16n, endLsn: 17n, xid: 1, commitTime: 0n, changes: [{ op: "insert", table: r.table, relation: r, after: Object.fromEntries(r.columns.map((c) => [c.name, "1"])) }] });

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CdcError);
    expect((e as CdcError).kind).toBe("usage");
    return (e as CdcError).message;
  }
  throw new Error("expected a config error");
}

describe("redis options naming columns", () => {
  const cols = ["id", "price"].map(col);
  const cases: [string, string, string][] = [
    ["key_template", '{ sink: rd, type: hash, key_template: "o:{id}:{order_id}" }', "pipeline 'p': to.key_template names 'order_id', not among its output columns (id, price)"],
    ["zset member", "{ sink: rd, type: zset, key_template: board, member: user, score: price }", "pipeline 'p': to.member names 'user', not among its output columns (id, price)"],
    ["zset score in a list", "[wh, { sink: rd, type: zset, key_template: board, member: id, score: points }]", "pipeline 'p': to.1.score names 'points', not among its output columns (id, price)"],
    ["string value", '{ sink: rd, type: string, key_template: "o:{id}", value: total }', "pipeline 'p': to.value names 'total', not among its output columns (id, price)"],
    ["hash fields", '{ sink: rd, type: hash, key_template: "o:{id}", fields: [price, qty, tax] }', "pipeline 'p': to.fields names 'qty', 'tax', not among its output columns (id, price)"],
  ];
  for (const [name, to, says] of cases) {
    test(name, () => {
      const c = config("public.orders", to);
      expect(usageMessage(() => checkTargetColumns(c.pipelines[0], c, cols))).toBe(says);
    });
  }

  test("options its type does not use, and other sinks' targets, are not checked", () => {
    const c = config("public.orders", '[{ sink: wh, key: [id] }, { sink: rd, type: stream, key_template: "events" }]');
    expect(() => checkTargetColumns(c.pipelines[0], c, cols)).not.toThrow();
  });

  test("serve: a mirror's template is checked against its table's columns at the first change, named with file and pipeline", async () => {
    const c = config("public.orders", '{ sink: rd, type: hash, key_template: "order:{order_id}" }');
    const runner = await createRunner(c.pipelines[0], c, { configDir: ".", reject: () => {} });
    const e = await runner.process(txn(rel("public.orders", "id", "price"))).then(() => null, (x) => x);
    expect(e).toBeInstanceOf(CdcError);
    expect((e as CdcError).kind).toBe("usage");
    expect((e as CdcError).message).toBe("cdc.yaml: pipelines.0 (p): to.key_template names 'order_id', not a column of public.orders (id, price)");
  });

  test("serve: a mirror whose tables have the columns writes as before; a table under schema.* is left to the DLQ", async () => {
    const good = config("public.orders", '{ sink: rd, type: hash, key_template: "order:{id}" }');
    const runner = await createRunner(good.pipelines[0], good, { configDir: ".", reject: () => {} });
    expect(await runner.process(txn(rel("public.orders", "id", "price")))).toHaveLength(1);
    // a table created later in the schema must not stop the engine (check names it)
    const wide = config('"public.*"', '{ sink: rd, type: hash, key_template: "order:{id}" }');
    const all = await createRunner(wide.pipelines[0], wide, { configDir: ".", reject: () => {} });
    expect(await all.process(txn(rel("public.audit", "at", "what")))).toHaveLength(1);
  });

  test("check: every table a mirror reads, schema.* included, is checked when the source's columns are known", async () => {
    const wide = config('"public.*"', '{ sink: rd, type: hash, key_template: "order:{id}" }');
    const relations = new Map([["public.orders", rel("public.orders", "id")], ["public.audit", rel("public.audit", "at")], ["other.x", rel("other.x", "y")]]);
    const e = await createRunner(wide.pipelines[0], wide, { configDir: ".", reject: () => {}, relations }).then(() => null, (x) => x);
    expect((e as CdcError).message).toBe("cdc.yaml: pipelines.0 (p): to.key_template names 'id', not a column of public.audit (at)");
  });
});
