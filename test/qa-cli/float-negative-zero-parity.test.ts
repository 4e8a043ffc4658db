import { describe, expect, test } from "bun:test";
import { compileExpression } from "../../src/expr/index.ts";
import { CompileError } from "../../src/expr/compile.ts";
import { DataDecoder } from "../../src/source/postgres/pgoutput.ts";
import { TypeDecoders } from "../../src/source/postgres/type-decoders.ts";
import { MirrorMapper } from "../../src/engine/mirror.ts";
import { toJsonText } from "../../src/sinks/json.ts";
import { stdoutSink } from "../../src/sinks/stdout/index.ts";
import type { Change, Row } from "../../src/types.ts";
import { insertMessage, relationMessage } from "../helpers/pgoutput-messages.ts";
import { build, del, ins, jsonSafe, relation, txn } from "../operators/harness.ts";
import { batch, rec, table, col } from "../sinks/helpers.ts";

/**
 * A double -0. Postgres prints it as -0 (`select '-0'::float8`, `to_json('-0'::float8)`,
 * `row_to_json` gives {"x":-0}); JSON.stringify writes 0, so a webhook, stdout or a Redis string
 * got 0. An integer has no -0 in Postgres (`0 * -1` is 0), but JS arithmetic gives one, so the
 * integer operators now normalise theirs and only a float's -0 reaches the printer. A numeric has
 * no -0 either (`'-0'::numeric` is 0). Every expected value is what PostgreSQL 15.20 printed.
 */
const COLS = [{ name: "f", typeOid: 701 }, { name: "i", typeOid: 23 }, { name: "r", typeOid: 700 }];
const json = (e: string, row: Row = { f: 0, i: 0, r: 0 }) => toJsonText(compileExpression(e, COLS).eval(row));

describe("expressions: a float's -0 is kept, an integer's is 0", () => {
  test("float -0 as Postgres computes it", () => {
    expect(json("'-0'::float8")).toBe("-0");
    expect(json("-(0.0::float8)")).toBe("-0");
    // `::` binds tighter than the minus: -(0.0::float8); the grammar folded the minus into the literal and lost it
    expect(json("-0.0::float8")).toBe("-0");
    expect(json("-0.0::float8 * 1")).toBe("-0");
    expect(json("0.0::float8 * -1")).toBe("-0");
    expect(json("-(0::float8)")).toBe("-0");
    expect(json("f * -1")).toBe("-0");
    expect(json("-f")).toBe("-0"); // was 0 - f, which is 0
    expect(json("-f", { f: -0, i: 0, r: 0 })).toBe("0");
    expect(json("ROUND(-0.4::float8)")).toBe("-0");
    expect(json("CEIL(-0.5::float8)")).toBe("-0");
    expect(json("CAST(-0.0 AS float8)")).toBe("0"); // the numeric -0.0 is 0, then cast
    expect(json("('-0'::float8)::text")).toBe('"-0"');
  });
  test("integers and numerics never give -0", () => {
    expect(json("0 * -1")).toBe("0");
    expect(json("i * -1")).toBe("0");
    expect(json("(-1) / 5")).toBe("0");
    expect(json("i / -5")).toBe("0");
    expect(json("(-4) % 2")).toBe("0");
    expect(json("-0")).toBe("0");
    expect(json("-i")).toBe("0");
    expect(json("(0 * -1)::float8")).toBe("0");
    expect(json("('-0'::float8)::int")).toBe("0");
    expect(json("'-0'::numeric")).toBe('"0"');
    expect(json("('-0'::float8)::numeric")).toBe('"0"');
    expect(json("-0.0")).toBe('"0.0"');
    expect(json("0.0 * -1")).toBe('"0.0"');
  });
  test("the minus outside a cast, as Postgres reads it: -2147483648::int and -5::text are errors there too", () => {
    expect(json("-1.5::int")).toBe("-2");
    expect(json("-2.5::int")).toBe("-3");
    expect(json("1e-5::float8")).toBe("0.00001");
    expect(json("i-2::int")).toBe("-2");
    expect(() => compileExpression("-2147483648::int", COLS)).toThrow(CompileError);
    expect(() => compileExpression("-5::text", COLS)).toThrow("operator does not exist: - text");
  });
});

describe("printing", () => {
  test("toJsonText writes a -0 number, also inside arrays (JSON.stringify wrote 0)", () => {
    expect(toJsonText({ a: -0, b: 0, arr: [-0, 1.5, null], big: 12345678901234567890n })).toBe('{"a":-0,"b":0,"arr":[-0,1.5,null],"big":12345678901234567890}');
    expect(Object.is(JSON.parse(toJsonText({ a: -0 })).a, -0)).toBe(true);
  });

  test("a float8/float4 -0 decoded from pgoutput text reaches stdout JSON as -0; int and numeric 0 as 0", async () => {
    const dec = new DataDecoder(new TypeDecoders());
    dec.decode(relationMessage([["id", 23], ["f", 701], ["r", 700], ["n", 1700], ["i", 23]]), false);
    const change = (dec.decode(insertMessage(["1", "-0", "-0", "0", "0"]), false) as { change: Change }).change;
    expect(Object.is(change.after!.f, -0)).toBe(true);
    const [r] = new MirrorMapper().map({ lsn: 1n, endLsn: 2n, xid: 1, commitTime: 0n, changes: [change] }, null);
    expect(toJsonText(r.row)).toBe('{"id":1,"f":-0,"r":-0,"n":"0","i":0}');

    const sink = stdoutSink.create(stdoutSink.configSchema.parse({ format: "row" }));
    const t = table("public.t", [col("id", 23, { key: true }), col("f", 701), col("r", 700), col("n", 1700), col("i", 23)], ["id"]);
    const lines: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((s: string) => (lines.push(s), true)) as typeof process.stdout.write;
    try {
      await sink.write(batch("p", [rec(t, "upsert", r.row, 10n)]));
    } finally {
      process.stdout.write = write;
    }
    expect(lines.join("")).toBe('{"id":1,"f":-0,"r":-0,"n":"0","i":0}\n');
  });

  test("through a pipeline's select: the source's -0 and a computed one are -0, an integer's 0 is 0", async () => {
    const t = relation("public.t", [["id", 23, "integer", true], ["f", 701], ["i", 23]]);
    const h = await build({ from: "public.t", select: ["id", "f", "f * 2 AS g", "-f AS nf", "i * -1 AS ni"], to: { sink: "out", table: "o", key: ["id"] } }, { relations: new Map([[t.table, t]]) });
    h.run(txn("2024-01-01T00:00:00Z", [ins(t, { id: 1, f: -0, i: 0 }), ins(t, { id: 2, f: 0, i: 0 })]));
    expect(h.sink.sorted().map((row) => toJsonText(row))).toEqual(['{"id":1,"f":-0,"g":-0,"nf":0,"ni":0}', '{"id":2,"f":0,"g":0,"nf":-0,"ni":0}']);
  });
});

describe("aggregates and their checkpoints keep -0 (sum(x) over two '-0' rows is -0 in Postgres, over '-0' and 0 it is 0; avg is 0)", () => {
  test("SUM/AVG/MIN over -0 rows, across a checkpoint restore and a retraction", async () => {
    const t = relation("public.t", [["id", 23, "integer", true], ["g", 23], ["f", 701]]);
    const rels = new Map([[t.table, t]]);
    const config = { from: "public.t", group_by: ["g"], aggregate: { s: "SUM(f)", a: "AVG(f)", mn: "MIN(f)" }, to: { sink: "out", table: "o", key: ["g"] } };
    const h = await build(config, { relations: rels });
    h.run(txn("2024-01-01T00:00:00Z", [ins(t, { id: 1, g: 1, f: -0 }), ins(t, { id: 2, g: 1, f: -0 })]));
    expect(toJsonText(h.sink.sorted())).toBe('[{"g":1,"s":-0,"a":0,"mn":-0}]');
    // the row values kept for retraction went through JSON as 0 before
    const state = jsonSafe(h.op.snapshot());
    const h2 = await build(config, { relations: rels });
    h2.op.restore(state);
    // (MIN of -0 and 0 depends on the order in Postgres: the later of two equal values wins)
    const sumAvg = () => toJsonText(h2.sink.sorted().map(({ g, s, a }) => ({ g, s, a })));
    h2.run(txn("2024-01-01T00:00:01Z", [ins(t, { id: 3, g: 1, f: 0 })]));
    expect(sumAvg()).toBe('[{"g":1,"s":0,"a":0}]');
    h2.run(txn("2024-01-01T00:00:02Z", [del(t, { id: 3 })]));
    expect(toJsonText(h2.sink.sorted())).toBe('[{"g":1,"s":-0,"a":0,"mn":-0}]');
    // the -0 rows taken back leave the +0 row: its sum is 0 (their restored values were 0 before,
    // so the sum stayed -0)
    h2.run(txn("2024-01-01T00:00:03Z", [ins(t, { id: 3, g: 1, f: 0 })]));
    h2.run(txn("2024-01-01T00:00:04Z", [del(t, { id: 1 }), del(t, { id: 2 })]));
    expect(sumAvg()).toBe('[{"g":1,"s":0,"a":0}]');
  });
});
