import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { compileExpression } from "../../src/expr/index.ts";
import { CompileError } from "../../src/expr/compile.ts";
import { EvalError, toText } from "../../src/expr/values.ts";
import { CdcError } from "../../src/errors.ts";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { build, relation } from "../operators/harness.ts";

/**
 * What Postgres 15 refuses when it plans the query is refused at compile (config load, exit 2):
 * LIKE with a non-text operand (`label LIKE 5` matched the number's text), round(double
 * precision, integer) (it rounded the double's binary value), round(numeric, bigint|numeric) and
 * % on a double (JS's remainder). A numeric or text too large (or too small) for a double is a
 * row error, as Postgres' cast (it was ±Infinity, or 0). Each case is run through the engine and,
 * the same expression on the same row, through the test's PostgreSQL 15: the verdicts must agree.
 */
const COLS = [
  { name: "label", typeOid: 25 },
  { name: "vc", typeOid: 1043, typeName: "character varying(10)" },
  { name: "ch", typeOid: 1042, typeName: "character(3)" },
  { name: "i", typeOid: 23 },
  { name: "big", typeOid: 20 },
  { name: "n", typeOid: 1700 },
  { name: "f", typeOid: 701 },
  { name: "r", typeOid: 700, typeName: "real" },
  { name: "b", typeOid: 16 },
  { name: "d", typeOid: 1082 },
  { name: "js", typeOid: 3802 },
  { name: "u", typeOid: 2950 },
  { name: "nbig", typeOid: 1700 },
  { name: "tiny", typeOid: 25 },
  { name: "duration_ms", typeOid: 23 },
  { name: "length_seconds", typeOid: 23 },
];
const ROW = {
  label: "5", vc: "xy", ch: "ab ", i: 5, big: 5n, n: "1.005", f: 2.5, r: 2.5, b: true, d: "2024-05-01", js: '{"s": "x"}',
  u: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", nbig: "1" + "0".repeat(400), tiny: "1e-400", duration_ms: 4321, length_seconds: 60,
};
const PG_ROW = `select '5'::text label, 'xy'::varchar(10) vc, 'ab'::char(3) ch, 5::int i, 5::bigint big, 1.005::numeric n,
  2.5::float8 f, 2.5::real r, true b, '2024-05-01'::date d, '{"s": "x"}'::jsonb js, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid u,
  1e400::numeric nbig, '1e-400'::text tiny, 4321::int duration_ms, 60::int length_seconds`;

type Verdict = { value: string | null } | { refused: string } | { rowError: string };

/** The engine's verdict, in Postgres' text form. */
function engine(e: string): Verdict {
  let c;
  try {
    c = compileExpression(e, COLS);
  } catch (err) {
    if (err instanceof CompileError) return { refused: err.message };
    throw err;
  }
  try {
    const v = c.compiled.fn(ROW);
    return { value: v === null || v === undefined ? null : toText(c.type.kind, v) };
  } catch (err) {
    if (err instanceof EvalError) return { rowError: err.message };
    throw err;
  }
}

let sql: postgres.Sql;
beforeAll(async () => {
  const pg = await sharedPg("system");
  sql = postgres(pg.url(await createDatabase(pg, "expr_refusals")), { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end();
});

/** Postgres' verdict: its value as text, or its error (a planning error: "does not exist"). */
async function postgresSays(e: string): Promise<{ value: string | null } | { error: string }> {
  try {
    const [row] = await sql.unsafe(`select (${e})::text as v from (${PG_ROW}) t`);
    return { value: row.v };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** The engine's verdict is `want`, and Postgres 15 says the same. */
async function agree(e: string, want: Verdict): Promise<void> {
  expect({ e, ...engine(e) }).toEqual({ e, ...want });
  const pg = await postgresSays(e);
  if ("value" in want) expect({ e, ...pg }).toEqual({ e, value: want.value });
  else if ("refused" in want) {
    // Postgres' message, then our hint in parentheses
    expect("error" in pg && pg.error).toMatch(/does not exist/);
    expect(want.refused.startsWith(`${(pg as { error: string }).error} (`)).toBe(true);
  } else expect("error" in pg && pg.error.replaceAll('"', "'")).toBe(want.rowError);
}

const LIKE_HINT = " (LIKE matches text: cast the other side, e.g. n::text LIKE '5%')";
const ROUND_HINT = " (cast to numeric to round to digits: ROUND(x::numeric, 2))";
const DIGITS_HINT = " (the number of digits is an integer)";

describe("LIKE and ILIKE take text only", () => {
  test("a number, boolean, date, jsonb or uuid operand is refused (operator does not exist: text ~~ integer)", async () => {
    await agree("label LIKE 5", { refused: `operator does not exist: text ~~ integer${LIKE_HINT}` });
    await agree("5 LIKE '5'", { refused: `operator does not exist: integer ~~ unknown${LIKE_HINT}` });
    await agree("i LIKE 'x'", { refused: `operator does not exist: integer ~~ unknown${LIKE_HINT}` });
    await agree("label NOT LIKE big", { refused: `operator does not exist: text !~~ bigint${LIKE_HINT}` });
    await agree("label ILIKE i", { refused: `operator does not exist: text ~~* integer${LIKE_HINT}` });
    await agree("n NOT ILIKE '1%'", { refused: `operator does not exist: numeric !~~* unknown${LIKE_HINT}` });
    await agree("f LIKE '2%'", { refused: `operator does not exist: double precision ~~ unknown${LIKE_HINT}` });
    await agree("b LIKE 't'", { refused: `operator does not exist: boolean ~~ unknown${LIKE_HINT}` });
    await agree("d LIKE '2024%'", { refused: `operator does not exist: date ~~ unknown${LIKE_HINT}` });
    await agree("js LIKE '%'", { refused: `operator does not exist: jsonb ~~ unknown${LIKE_HINT}` });
    await agree("u LIKE 'a%'", { refused: `operator does not exist: uuid ~~ unknown${LIKE_HINT}` });
  });
  test("text, varchar, char, ->> and casts to text still match", async () => {
    await agree("label LIKE '5'", { value: "true" });
    await agree("vc ILIKE 'X%'", { value: "true" });
    await agree("ch LIKE 'ab%'", { value: "true" });
    await agree("js->>'s' LIKE 'x'", { value: "true" });
    await agree("i::text LIKE '5%'", { value: "true" });
    await agree("CAST(n AS text) NOT LIKE '1.%'", { value: "false" });
    await agree("label LIKE NULL", { value: null });
  });
  test("a character(n) value's padding is not part of it in an expression, as in Postgres", async () => {
    await agree("LENGTH(ch)", { value: "2" });
    await agree("ch = 'ab'", { value: "true" });
    await agree("ch = 'ab  '", { value: "true" });
    await agree("'ab' LIKE ch", { value: "true" });
    await agree("ch || 'x'", { value: "abx" });
    await agree("UPPER(ch)", { value: "AB" });
    await agree("ch IN ('ab', 'cd')", { value: "true" });
    await agree("ch::text = 'ab'", { value: "true" });
    await agree("CONCAT(ch, 'x')", { value: "ab x" }); // CONCAT prints with the type's output function, padded
    await agree("CONCAT(ch::text, 'x')", { value: "abx" });
  });
  test("at config load: one line naming the pipeline and the expression", async () => {
    const R = relation("public.items", [["id", 23, "integer", true], ["label", 25, "text"], ["qty", 23, "integer"], ["score", 701, "double precision"]]);
    const err = await build({ from: "public.items", where: "label LIKE 5" }, { relations: new Map([[R.table, R]]) }).catch((e) => e);
    expect(err).toBeInstanceOf(CdcError);
    expect((err as CdcError).kind).toBe("usage");
    expect((err as CdcError).message).toBe(`pipeline 'test': 'label LIKE 5': operator does not exist: text ~~ integer${LIKE_HINT}`);
  });
});

describe("ROUND as Postgres has it: round(numeric, integer) and round(double precision)", () => {
  test("a double with digits is refused: cast it to numeric", async () => {
    await agree("ROUND(f, 2)", { refused: `function round(double precision, integer) does not exist${ROUND_HINT}` });
    await agree("ROUND(r, 1)", { refused: `function round(real, integer) does not exist${ROUND_HINT}` });
    await agree("ROUND(f * 100, 0)", { refused: `function round(double precision, integer) does not exist${ROUND_HINT}` });
    await agree("ROUND(f, '1')", { refused: `function round(double precision, unknown) does not exist${ROUND_HINT}` });
  });
  test("digits that are not an integer are refused", async () => {
    await agree("ROUND(n, big)", { refused: `function round(numeric, bigint) does not exist${DIGITS_HINT}` });
    await agree("ROUND(n, 1.0)", { refused: `function round(numeric, numeric) does not exist${DIGITS_HINT}` });
    await agree("ROUND(n, label)", { refused: `function round(numeric, text) does not exist${DIGITS_HINT}` });
  });
  test("a text, boolean or date to round, floor, ceil or abs is refused (was cast to numeric); a quoted literal is a number", async () => {
    const CAST_HINT = (f: string) => ` (cast it: ${f}(x::numeric))`;
    await agree("ROUND(label)", { refused: `function round(text) does not exist${CAST_HINT("ROUND")}` });
    await agree("ROUND(label, 2)", { refused: `function round(text, integer) does not exist${CAST_HINT("ROUND")}` });
    await agree("FLOOR(d)", { refused: `function floor(date) does not exist${CAST_HINT("FLOOR")}` });
    await agree("CEIL(vc)", { refused: `function ceil(character varying) does not exist${CAST_HINT("CEIL")}` });
    await agree("ABS(b)", { refused: `function abs(boolean) does not exist${CAST_HINT("ABS")}` });
    await agree("ROUND('1.5')", { value: "2" });
    await agree("ABS('-2')", { value: "2" });
    await agree("ROUND(label::numeric)", { value: "5" });
  });
  test("what Postgres accepts keeps its value", async () => {
    await agree("ROUND(f)", { value: "2" }); // half to even (rint)
    await agree("ROUND(r)", { value: "2" });
    await agree("ROUND(f::numeric, 2)", { value: "2.50" });
    await agree("ROUND(CAST(f * 1.001 AS numeric), 2)", { value: "2.50" });
    await agree("ROUND(1.005::float8::numeric, 2)", { value: "1.01" }); // the double's 15 digits, then half away from zero
    await agree("ROUND(n, 2)", { value: "1.01" });
    await agree("ROUND(n, '2')", { value: "1.01" });
    await agree("ROUND(n, -1)", { value: "0" });
    await agree("ROUND(i, 1)", { value: "5.0" });
    await agree("ROUND(i)", { value: "5" });
    await agree("ROUND(n)", { value: "1" });
    await agree("ROUND('2.345', 2)", { value: "2.35" });
  });
  test("the engagement scenario's percentage (numeric: duration_ms / 1000.0)", async () => {
    await agree("ROUND(duration_ms / 1000.0 / length_seconds * 100, 2)", { value: "7.20" });
  });
});

describe("doubles out of range are row errors, as in Postgres", () => {
  test("arithmetic that overflows from finite operands", async () => {
    await agree("f * 1e308", { rowError: "value out of range: overflow" });
    await agree("-f * 1e308", { rowError: "value out of range: overflow" });
    await agree("f / 1e-308", { rowError: "value out of range: overflow" });
    await agree("f + 1.7976931348623157e308", { value: "1.7976931348623157e+308" }); // rounds back to the largest double
  });
  test("a numeric or a text past the double range (was ±Infinity, or 0)", async () => {
    await agree("nbig::float8", { rowError: `'${ROW.nbig}' is out of range for type double precision` });
    await agree("CAST(-nbig AS double precision)", { rowError: `'-${ROW.nbig}' is out of range for type double precision` });
    await agree("tiny::float8", { rowError: "'1e-400' is out of range for type double precision" });
    await agree("f < nbig", { rowError: `'${ROW.nbig}' is out of range for type double precision` });
    await agree("'1e-310'::float8", { value: "1e-310" }); // a subnormal is a double
  });
  test("% has no double form", async () => {
    await agree("f % 2", { refused: "operator does not exist: double precision % integer (cast both to numeric or integer)" });
    await agree("n % f", { refused: "operator does not exist: numeric % double precision (cast both to numeric or integer)" });
    await agree("f::numeric % 2", { value: "0.5" });
  });
});
