import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { compileExpression } from "../../src/expr/index.ts";
import { CompileError } from "../../src/expr/compile.ts";
import { EvalError, textOf } from "../../src/expr/values.ts";
import { createDatabase, sharedPg } from "../helpers/index.ts";

/**
 * `real` (float4) as Postgres 15 has it: a cast rounds to float4 (errors past its range), real op
 * real stays a real, a real meeting a double (or an integer, a numeric) widens to its float4
 * value, and a real prints as float4out prints it. Each expression runs through the engine and,
 * on the same row, through the test's PostgreSQL: value, type and row error must agree.
 */
const COLS = [
  { name: "r", typeOid: 700, typeName: "real" },
  { name: "rbig", typeOid: 700, typeName: "real" },
  { name: "rtiny", typeOid: 700, typeName: "real" },
  { name: "f", typeOid: 701 },
  { name: "fbig", typeOid: 701 },
  { name: "ftiny", typeOid: 701 },
  { name: "i", typeOid: 23 },
  { name: "n39", typeOid: 1700 },
  { name: "t46", typeOid: 25 },
];
// a real column arrives as the double of its shortest text (the source's decoder): 0.1, 3e38, 1e-40
const ROW = { r: 0.1, rbig: 3e38, rtiny: 1e-40, f: 2.5, fbig: 1e39, ftiny: 1e-50, i: 16777217, n39: "1" + "0".repeat(39), t46: "1e-46" };
const PG_ROW = `select 0.1::real r, 3e38::real rbig, 1e-40::real rtiny, 2.5::float8 f, 1e39::float8 fbig, 1e-50::float8 ftiny,
  16777217::int i, 1e39::numeric n39, '1e-46'::text t46`;

type Verdict = { value: string | null; type: string } | { rowError: string };

function engine(e: string): Verdict | { refused: string } {
  let c;
  try {
    c = compileExpression(e, COLS);
  } catch (err) {
    if (err instanceof CompileError) return { refused: err.message };
    throw err;
  }
  try {
    const v = c.compiled.fn(ROW);
    return { value: v === null || v === undefined ? null : textOf(c.type, v), type: c.type.typeName };
  } catch (err) {
    if (err instanceof EvalError) return { rowError: err.message };
    throw err;
  }
}

let sql: postgres.Sql;
beforeAll(async () => {
  const pg = await sharedPg("system");
  sql = postgres(pg.url(await createDatabase(pg, "expr_real")), { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end();
});

async function postgresSays(e: string): Promise<Verdict> {
  try {
    const [row] = await sql.unsafe(`select (${e})::text as v, pg_typeof(${e})::text as t from (${PG_ROW}) x`);
    return { value: row.v, type: row.t };
  } catch (err) {
    return { rowError: (err as Error).message.replaceAll('"', "'") };
  }
}

/** The engine gives `want` (a value as Postgres prints it, and its type), and so does Postgres 15. */
async function agree(e: string, want: string | null | { rowError: string }, type = "real"): Promise<void> {
  const w: Verdict = want !== null && typeof want === "object" ? want : { value: want, type };
  expect({ e, ...engine(e) }).toEqual({ e, ...w });
  expect({ e, ...(await postgresSays(e)) }).toEqual({ e, ...w });
}

describe("CAST to real rounds to float4", () => {
  test("values print as float4out prints them", async () => {
    await agree("0.1::real", "0.1");
    await agree("1.0000001::real", "1.0000001");
    await agree("CAST(1.00000001 AS real)", "1");
    await agree("3.4e38::real", "3.4e+38");
    await agree("1234567::real", "1.234567e+06");
    await agree("123456.7::float4", "123456.7");
    await agree("1234567.25::real", "1.2345672e+06"); // a tie of 8 digits goes to the even one, as Ryu
    await agree("1234567.3::real = 1234567.2::real", "true", "boolean");
    await agree("i::real", "1.6777216e+07"); // 16777217 has no float4
    await agree("0.00001::real", "1e-05");
    await agree("rtiny", "1e-40"); // a subnormal is a real
    await agree("f::real", "2.5");
    await agree("CAST(2.5 AS float(10))", "2.5"); // float(p ≤ 24) is real
    await agree("CAST(2.5 AS float(30))", "2.5", "double precision");
  });
  test("out of the float4 range is a row error, worded as Postgres words it", async () => {
    await agree("fbig::real", { rowError: "value out of range: overflow" });
    await agree("ftiny::real", { rowError: "value out of range: underflow" });
    await agree("n39::real", { rowError: `'${ROW.n39}' is out of range for type real` });
    await agree("t46::real", { rowError: "'1e-46' is out of range for type real" });
  });
  test("a real cast on: to double its float4, to numeric six digits, to text float4out", async () => {
    await agree("r::float8", "0.10000000149011612", "double precision");
    await agree("rtiny::float8", "9.99994610111476e-41", "double precision");
    await agree("r::numeric", "0.1", "numeric");
    await agree("1.0000001::real::numeric", "1", "numeric");
    await agree("123456789::real::numeric", "123457000", "numeric");
    await agree("2.5::real::int", "2", "integer");
    await agree("r::text || 'x'", "0.1x", "text");
    await agree("rbig || ''", "3e+38", "text");
    await agree("CONCAT(1234567::real, '')", "1.234567e+06", "text");
    await agree("1234567::real::text", "1.234567e+06", "text");
    await agree("CAST(1234567::real AS varchar(5)) || ''", "1.234", "text");
  });
});

describe("arithmetic and comparison", () => {
  test("real op real is a real, rounded to float4", async () => {
    await agree("r + r", "0.2");
    await agree("r * 3::real", "0.3");
    await agree("1::real / 3::real", "0.33333334");
    await agree("0.1::real - 0.3::real", "-0.20000002");
    await agree("r + '0.2'", "0.3"); // the quoted literal takes the real's type
    await agree("-r", "-0.1");
    await agree("ABS(-r)", "0.1");
  });
  test("real op anything else widens the real to double", async () => {
    await agree("0.1::real + 0::float8", "0.10000000149011612", "double precision");
    await agree("r + f", "2.600000001490116", "double precision");
    await agree("r * 2", "0.20000000298023224", "double precision");
    await agree("r + 1.5", "1.6000000014901161", "double precision");
    await agree("GREATEST(r, 0::float8)", "0.10000000149011612", "double precision");
    await agree("COALESCE(r, 1.5)", "0.1"); // a real meeting a numeric stays real
    await agree("GREATEST(r, 2)", "2");
  });
  test("overflow and underflow of real arithmetic are row errors", async () => {
    await agree("rbig + rbig", { rowError: "value out of range: overflow" });
    await agree("rbig * 10::real", { rowError: "value out of range: overflow" });
    await agree("rtiny * rtiny", { rowError: "value out of range: underflow" });
    await agree("rtiny / rbig", { rowError: "value out of range: underflow" });
    await agree("r / 0::real", { rowError: "division by zero" });
    await agree("'NaN'::real / 0::real", "NaN");
    await agree("rbig + rbig::float8", "6.0000000109955115e+38", "double precision"); // double: no overflow
  });
  test("doubles: underflow is an error too, NaN / 0 is NaN", async () => {
    await agree("ftiny * 1e-300::float8", { rowError: "value out of range: underflow" }, "double precision");
    await agree("'NaN'::float8 / 0", "NaN", "double precision");
  });
  test("a real compared with a real compares float4s, with anything else its widened value", async () => {
    await agree("r = 0.1", "false", "boolean");
    await agree("r = 0.1::real", "true", "boolean");
    await agree("r = '0.1'", "true", "boolean");
    await agree("r < 0.1", "false", "boolean");
    await agree("r > 0.1::float8", "true", "boolean");
    await agree("r IN (0.1::real, 2)", "true", "boolean");
  });
});

describe("float4out", () => {
  test("3000 random float4 values, powers of two and the extremes print as Postgres prints them", async () => {
    const bits = new Uint32Array(1);
    const f32 = new Float32Array(bits.buffer);
    let seed = 12345;
    const values: number[] = [];
    while (values.length < 3000) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      bits[0] = (seed ^ (seed << 7)) >>> 0;
      if (Number.isFinite(f32[0])) values.push(f32[0]);
    }
    // and where the interval is lopsided (powers of two), the largest and the smallest float4s
    for (let k = -149; k < 128; k++) values.push(2 ** k, -(2 ** k));
    values.push(3.4028234663852886e38, Math.fround(1.17549435e-38), 1.401298464324817e-45);
    const texts = values.map((v) => v.toPrecision(9)); // 9 digits name a float4 exactly
    const rows = await sql.unsafe(`select x::real::text as v from unnest($1::text[]) with ordinality as t(x, i) order by i`, [texts]);
    // engine: the value as a real column carries it (the double of its shortest text), then printed
    const mine = values.map((v) => textOf({ kind: "float", oid: 700, typeName: "real" }, compileExpression("t::real", [{ name: "t", typeOid: 25 }]).compiled.fn({ t: v.toPrecision(9) })));
    expect(mine).toEqual(rows.map((r) => r.v));
  });
});
