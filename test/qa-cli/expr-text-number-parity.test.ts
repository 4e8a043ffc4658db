import { describe, expect, test } from "bun:test";
import { compileExpression } from "../../src/expr/index.ts";
import { CompileError } from "../../src/expr/compile.ts";
import { CdcError } from "../../src/errors.ts";
import { build, relation } from "../operators/harness.ts";

/**
 * A text compared with a number. Postgres refuses it when it plans the query (`operator does not
 * exist: text = integer`); the compiler took it and compared the two as decimals, so every row
 * whose text was not a number went to the DLQ ("invalid input for numeric"). Now it is refused at
 * config load, as a timestamp compared with a number already was. What Postgres accepts still
 * works: a quoted literal is untyped and takes the other side's type (`n = '5'`), and a cast text
 * compares as its new type. Every verdict below is what PostgreSQL 15 gives for the same
 * expression (checked with psql against 15.20, e.g. `select 'a'::varchar = 5`).
 */
const COLS = [
  { name: "label", typeOid: 25 },
  { name: "vc", typeOid: 1043, typeName: "character varying(20)" },
  { name: "ch", typeOid: 1042, typeName: "character(3)" },
  { name: "nm", typeOid: 19, typeName: "name" },
  { name: "i", typeOid: 23 },
  { name: "big", typeOid: 20 },
  { name: "n", typeOid: 1700 },
  { name: "f", typeOid: 701 },
  { name: "b", typeOid: 16 },
  { name: "ts", typeOid: 1184 },
  { name: "u", typeOid: 2950 },
  { name: "js", typeOid: 3802 },
];
const ROW = { label: "5", vc: "7", ch: "ab ", nm: "x", i: 5, big: 5n, n: "5", f: 5, b: true, ts: "2024-05-01 10:00:00+00", u: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", js: '{"n": 6, "s": "x"}' };

const refused = (e: string): string => {
  try {
    compileExpression(e, COLS);
  } catch (err) {
    expect(err).toBeInstanceOf(CompileError);
    return (err as Error).message;
  }
  throw new Error(`'${e}' compiled`);
};
const ev = (e: string) => compileExpression(e, COLS).eval(ROW);

describe("a text compared with a number is refused, as Postgres refuses it", () => {
  test("a text column with an integer, a numeric literal, a bigint, a double", () => {
    expect(refused("label = 5")).toBe("types text and integer cannot be compared or matched (cast one side)");
    expect(refused("label > 1.5")).toBe("types text and numeric cannot be compared or matched (cast one side)");
    expect(refused("label <> big")).toBe("types text and bigint cannot be compared or matched (cast one side)");
    expect(refused("label < f")).toBe("types text and double precision cannot be compared or matched (cast one side)");
    expect(refused("5 = label")).toBe("types integer and text cannot be compared or matched (cast one side)");
  });
  test("IN, NOT IN, BETWEEN and CASE x WHEN", () => {
    expect(refused("label IN (1, 2)")).toBe("types text and integer cannot be compared or matched (cast one side)");
    expect(refused("label NOT IN ('a', 2)")).toBe("types text and integer cannot be compared or matched (cast one side)");
    expect(refused("label BETWEEN 1 AND 9")).toBe("types text and integer cannot be compared or matched (cast one side)");
    expect(refused("CASE label WHEN 1 THEN 'one' END")).toBe("types text and integer cannot be compared or matched (cast one side)");
  });
  test("varchar, char and name columns: Postgres has no such operator for them either", () => {
    expect(refused("vc = 7")).toBe("types character varying(20) and integer cannot be compared or matched (cast one side)");
    expect(refused("ch = 7")).toBe("types character(3) and integer cannot be compared or matched (cast one side)");
    expect(refused("nm = 7")).toBe("types name and integer cannot be compared or matched (cast one side)");
  });
  test("text results of expressions: functions, ->>, CASE and COALESCE (also of quoted literals only: they resolve to text)", () => {
    expect(refused("UPPER(label) = 5")).toBe("types text and integer cannot be compared or matched (cast one side)");
    expect(refused("js->>'n' > 5")).toBe("types text and integer cannot be compared or matched (cast one side)");
    expect(refused("COALESCE(label, 'x') = 5")).toBe("types text and integer cannot be compared or matched (cast one side)");
    expect(refused("COALESCE('a', 'b') = 5")).toBe("types text and integer cannot be compared or matched (cast one side)");
    expect(refused("CASE WHEN b THEN 'a' ELSE 'b' END = 5")).toBe("types text and integer cannot be compared or matched (cast one side)");
    expect(refused("CASE WHEN b THEN label END = 5")).toBe("types text and integer cannot be compared or matched (cast one side)");
  });
  test("COALESCE/GREATEST/CASE/NULLIF mixing a text and a number (COALESCE types text and integer cannot be matched)", () => {
    expect(refused("COALESCE(label, 0)")).toBe("types text and integer cannot be compared or matched (cast one side)");
    expect(refused("GREATEST(label, i)")).toBe("types text and integer cannot be compared or matched (cast one side)");
    expect(refused("CASE WHEN b THEN label ELSE 0 END")).toBe("types text and integer cannot be compared or matched (cast one side)");
    expect(refused("NULLIF(label, 0)")).toBe("NULLIF: text and integer cannot be compared or matched (cast one side)");
  });
  test("a text and a timestamp, boolean, uuid or jsonb: no operator in Postgres either", () => {
    expect(refused("label = ts")).toBe("types text and timestamp with time zone cannot be compared or matched (cast one side)");
    expect(refused("label = b")).toBe("types text and boolean cannot be compared or matched (cast one side)");
    expect(refused("label = u")).toBe("types text and uuid cannot be compared or matched (cast one side)");
    expect(refused("label = js")).toBe("types text and jsonb cannot be compared or matched (cast one side)");
  });
  test("arithmetic on a text, boolean, uuid or jsonb ('operator does not exist', as Postgres 15 says)", () => {
    const hint = (op: string) => ` (cast the text: label::numeric ${op} 1)`;
    expect(refused("label + 1")).toBe(`operator does not exist: text + integer${hint("+")}`);
    expect(refused("vc * 2")).toBe(`operator does not exist: character varying(20) * integer${hint("*")}`);
    expect(refused("b + 1")).toBe(`operator does not exist: boolean + integer${hint("+")}`);
    expect(refused("js + 1")).toBe(`operator does not exist: jsonb + integer${hint("+")}`);
    expect(refused("1 - u")).toBe(`operator does not exist: integer - uuid${hint("-")}`);
    expect(refused("(js->>'n') / 2")).toBe(`operator does not exist: text / integer${hint("/")}`);
  });
  test("unary minus of a text ('operator does not exist: - text')", () => {
    expect(refused("-label")).toBe("operator does not exist: - text");
  });
});

describe("what Postgres accepts still compiles and gives Postgres' values", () => {
  test("a quoted literal takes the number's type", () => {
    expect(ev("n = '5'")).toBe(true);
    expect(ev("i = '5'")).toBe(true);
    expect(ev("f > '4.5'")).toBe(true);
    expect(ev("'5' = 5")).toBe(true);
    expect(ev("i IN ('5', 6)")).toBe(true);
    expect(refused("n = 'abc'")).toBe("invalid input for numeric: 'abc'");
  });
  test("arithmetic with an untyped literal or a cast text, and date + integer", () => {
    expect(ev("'5' + 1")).toBe(6);
    expect(ev("label::int + 1")).toBe(6);
    expect(ev("(js->>'n')::int * 2")).toBe(12);
    expect(ev("ts::date + 1")).toBe("2024-05-02");
  });
  test("a text cast to a number, a number cast to text", () => {
    expect(ev("label::int = 5")).toBe(true);
    expect(ev("CAST(label AS numeric) > 1.5")).toBe(true);
    expect(ev("(js->>'n')::int > 5")).toBe(true);
    expect(ev("i::text = label")).toBe(true);
    expect(ev("vc::int IN (7, 8)")).toBe(true);
  });
  test("text with text and untyped literals; || and CONCAT take numbers", () => {
    expect(ev("label = '5'")).toBe(true);
    expect(ev("ch = 'ab '")).toBe(true);
    expect(ev("vc <> label")).toBe(true);
    expect(ev("label || 5")).toBe("55");
    expect(ev("CONCAT(label, i)")).toBe("55");
    expect(ev("COALESCE(label, '0')")).toBe("5");
  });
});

describe("at config load: one line naming the pipeline and the expression (exit 2)", () => {
  const R = relation("public.items", [["id", 23, "integer", true], ["label", 25, "text"], ["code", 1043, "character varying(10)"], ["qty", 23, "integer"]]);
  const RELS = new Map([[R.table, R]]);
  const usage = async (config: Record<string, unknown>): Promise<CdcError> => {
    try {
      await build(config, { relations: RELS });
    } catch (e) {
      expect(e).toBeInstanceOf(CdcError);
      expect((e as CdcError).kind).toBe("usage");
      return e as CdcError;
    }
    throw new Error("expected a usage error");
  };
  test("where, validate, select, window key and aggregate", async () => {
    expect((await usage({ from: "public.items", where: "label = 5" })).message).toBe("pipeline 'test': 'label = 5': types text and integer cannot be compared or matched (cast one side)");
    expect((await usage({ from: "public.items", validate: [{ rule: "code IN (1, 2)" }] })).message).toBe("pipeline 'test': 'code IN (1, 2)': types character varying(10) and integer cannot be compared or matched (cast one side)");
    expect((await usage({ from: "public.items", select: ["id", "label > 1.5 AS big"] })).message).toBe("pipeline 'test': 'label > 1.5 AS big': types text and numeric cannot be compared or matched (cast one side)");
    expect((await usage({ from: "public.items", group_by: ["label"], aggregate: { n: "SUM(CASE WHEN code = 1 THEN qty END)" } })).message).toContain("aggregate n 'SUM(CASE WHEN code = 1 THEN qty END)': types character varying(10) and integer cannot be compared or matched (cast one side)");
    // the same with a cast or a quoted literal is fine
    await build({ from: "public.items", where: "label::int = 5 AND code = '1' AND qty = '3'", group_by: ["label"], aggregate: { n: "SUM(CASE WHEN code::int = 1 THEN qty END)" } }, { relations: RELS });
  });
});
