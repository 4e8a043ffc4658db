import { describe, expect, test } from "bun:test";
import { compileExpression } from "../../src/expr/index.ts";
import { EvalError } from "../../src/expr/values.ts";

/** Odd data through expressions: results checked against what Postgres 15 answers for the same SQL. */
const COLS = [
  { name: "i", typeOid: 23 },
  { name: "big", typeOid: 20 },
  { name: "price", typeOid: 1700, typeName: "numeric(10,2)" },
  { name: "f", typeOid: 701 },
  { name: "s", typeOid: 25 },
  { name: "ts", typeOid: 1184 },
  { name: "lts", typeOid: 1114 },
  { name: "d", typeOid: 1082 },
  { name: "j", typeOid: 114 },
];
const ev = (e: string, row: Record<string, unknown>) => compileExpression(e, COLS).eval(row);

describe("numbers out of range are row errors, not wrong values", () => {
  test("int8 and int4 overflow", () => {
    const max = { big: 9223372036854775807n, i: -2147483648 };
    for (const e of ["big + 1", "big * 2", "-big - 2", "(big * -1 - 1) / -1", "ABS(-big - 1)", "i / -1", "ABS(i)"]) expect(() => ev(e, max)).toThrow(EvalError);
    expect(ev("big - 1", max)).toBe(9223372036854775806n);
    expect(() => ev("CAST(s AS bigint)", { s: "99999999999999999999" })).toThrow(EvalError);
  });
  test("CAST to numeric(p,s) overflows as in Postgres; float to int rounds half to even", () => {
    expect(() => ev("CAST(price AS numeric(3,2))", { price: "150.00" })).toThrow("numeric field overflow");
    expect(ev("CAST(price AS numeric(5,1))", { price: "1234.56" })).toBe("1234.6");
    expect(ev("CAST(f AS int)", { f: 2.5 })).toBe(2);
    expect(ev("CAST(f AS int)", { f: -2.5 })).toBe(-2);
    expect(ev("CAST(f AS bigint)", { f: 3.5 })).toBe(4n);
    expect(() => ev("CAST(f AS int)", { f: NaN })).toThrow(EvalError);
    expect(() => ev("CAST(f AS bigint)", { f: Infinity })).toThrow(EvalError);
    expect(ev("CAST('-Infinity' AS float)", {})).toBe(-Infinity);
    expect(() => ev("CAST(s AS float)", { s: "1e400" })).toThrow("out of range for type double precision");
    // float → numeric keeps 15 significant digits, as Postgres
    expect(ev("CAST(f + 0.2 AS numeric)", { f: 0.1 })).toBe("0.3");
    expect(ev("CAST(f / 3 AS numeric)", { f: -2.5 })).toBe("-0.833333333333333");
  });
  test("a NaN numeric is a row error (it used to escape as a RangeError and stop the engine)", () => {
    expect(() => ev("price * 2", { price: "NaN" })).toThrow(EvalError);
    expect(() => ev("price > 1", { price: "Infinity" })).toThrow(EvalError);
  });
});

describe("unicode", () => {
  test("varchar(n) counts characters; LIKE '_' is one character; UPPER keeps the length", () => {
    expect(ev("CAST(s AS varchar(4))", { s: "ÄbÇ😀x" })).toBe("ÄbÇ😀");
    expect(ev("s LIKE '____x'", { s: "ÄbÇ😀x" })).toBe(true);
    expect(ev("s LIKE '%😀_'", { s: "ÄbÇ😀x" })).toBe(true);
    expect(ev("UPPER(s)", { s: "straße" })).toBe("STRAßE");
    expect(ev("UPPER(s)", { s: "éa😀" })).toBe("ÉA😀");
  });
});

describe("timestamps at ±infinity and far from 1970", () => {
  test("±infinity compares, truncates and prints as Postgres; fields without an answer", () => {
    const row = { ts: "infinity", lts: "-infinity", d: "infinity" };
    expect(ev("ts > '2024-01-01'", row)).toBe(true);
    expect(ev("lts < '2024-01-01'", row)).toBe(true);
    expect(ev("DATE_TRUNC('day', ts)", row)).toBe("infinity");
    expect(ev("CAST(lts AS date)", row)).toBe("-infinity");
    expect(ev("COALESCE(ts, '2024-01-01')", row)).toBe("infinity");
    expect(ev("EXTRACT(month FROM ts)", row)).toBe(null); // Postgres: NULL
    expect(() => ev("EXTRACT(year FROM ts)", row)).toThrow(EvalError); // Postgres: Infinity
    expect(() => ev("DATE_DIFF('day', lts, ts)", row)).toThrow(EvalError);
  });
  test("'9999-12-31 23:59:59.999999' stays in year 9999; years below 100 truncate correctly", () => {
    const row = { ts: "9999-12-31 23:59:59.999999+00", lts: "0001-05-17 10:00:00" };
    expect(ev("YEAR(ts)", row)).toBe(9999);
    expect(ev("CAST(ts AS date)", row)).toBe("9999-12-31");
    expect(ev("DATE_TRUNC('hour', ts)", row)).toBe("9999-12-31 23:00:00+00");
    expect(ev("ts > '9999-12-31 23:59:59'", row)).toBe(true);
    expect(ev("DATE_TRUNC('quarter', lts)", row)).toBe("0001-04-01 00:00:00");
    expect(ev("DATE_TRUNC('year', lts)", row)).toBe("0001-01-01 00:00:00");
    expect(ev("EXTRACT(doy FROM lts)", row)).toBe("137");
    expect(ev("EXTRACT(epoch FROM d)", { d: "2024-02-29" })).toBe("1709164800"); // no fraction for a date, as Postgres
  });
});

describe("JSON numbers keep every digit", () => {
  test("->> and -> give the number as written, not through a double", () => {
    const row = { j: '{"a":1.50,"b":12345678901234567890,"c":[0.10,2],"d":"x"}' };
    expect(ev("j->>'a'", row)).toBe("1.50");
    expect(ev("j->>'b'", row)).toBe("12345678901234567890");
    expect(ev("j->'c'", row)).toBe("[0.10,2]");
    expect(ev("j->'c'->>0", row)).toBe("0.10");
    expect(ev("CAST(j->>'b' AS numeric) + 1", row)).toBe("12345678901234567891");
    expect(ev("j->>'d'", row)).toBe("x");
    expect(ev("j->'a'->>'x'", row)).toBe(null);
    expect(() => ev("j->>'a'", { j: "{not json" })).toThrow(EvalError);
  });
});
