import { describe, expect, test } from "bun:test";
import { compileExpression } from "../../src/expr/index.ts";
import { CompileError } from "../../src/expr/compile.ts";
import { EvalError } from "../../src/expr/values.ts";

const COLS = [
  { name: "i", typeOid: 23 },
  { name: "j", typeOid: 23 },
  { name: "big", typeOid: 20 },
  { name: "price", typeOid: 1700, typeName: "numeric(10,2)" },
  { name: "freight", typeOid: 1700, typeName: "numeric(10,2)" },
  { name: "f", typeOid: 701 },
  { name: "s", typeOid: 25 },
  { name: "b", typeOid: 16 },
  { name: "ts", typeOid: 1184 },
  { name: "ts2", typeOid: 1184 },
  { name: "lts", typeOid: 1114 },
  { name: "d", typeOid: 1082 },
  { name: "d2", typeOid: 1082 },
  { name: "payload", typeOid: 3802 },
  { name: "n", typeOid: 23 },
];
const MAPS = { groups: new Map([["informatica_acessorios", "Electronics"]]) };
const ROW = {
  i: 7, j: 2, big: 9007199254740993n, price: "150.00", freight: "15.50", f: 1.5, s: "  Hello World ", b: true,
  ts: "2024-05-01 10:00:00.123456+00", ts2: "2024-05-04 09:00:00+00", lts: "2024-12-31 23:59:59.999999",
  d: "2024-03-01", d2: "2024-02-28", payload: '{"a":{"b":"x","n":12},"arr":[1,2,3],"s":"str"}', n: null,
};
const ev = (e: string, row: Record<string, unknown> = ROW) => compileExpression(e, COLS, MAPS).eval(row);
const typeOf = (e: string) => compileExpression(e, COLS, MAPS).type;

describe("arithmetic", () => {
  test("exact decimals", () => {
    expect(ev("0.1 + 0.2")).toBe("0.3");
    expect(ev("0.1 + 0.2 = 0.3")).toBe(true);
    expect(ev("price + freight")).toBe("165.50");
    expect(ev("price * i")).toBe("1050.00");
    expect(ev("price - freight * 2")).toBe("119.00");
    expect(ev("price / 3")).toBe("50.0000000000000000");
    expect(ev("i / j")).toBe(3); // integer division truncates, as Postgres
    expect(ev("i % j")).toBe(1);
    expect(ev("i / 2.0")).toBe("3.5000000000000000");
    expect(ev("big + 1")).toBe(9007199254740994n); // int8 never through a float
    expect(ev("-price")).toBe("-150.00");
    expect(ev("f * 2")).toBe(3);
    expect(typeOf("price + freight").oid).toBe(1700);
    expect(typeOf("i + j").oid).toBe(23);
    expect(typeOf("big * 2").oid).toBe(20);
  });
  test("division by zero is a row error", () => {
    expect(() => ev("i / 0")).toThrow(EvalError);
    expect(() => ev("price / 0")).toThrow(EvalError);
  });
  test("NULL propagates", () => {
    expect(ev("n + 1")).toBe(null);
    expect(ev("price * n")).toBe(null);
  });
});

describe("three-valued logic", () => {
  test("AND/OR/NOT with NULL", () => {
    expect(ev("n = 1 AND FALSE")).toBe(false);
    expect(ev("n = 1 AND TRUE")).toBe(null);
    expect(ev("n = 1 OR TRUE")).toBe(true);
    expect(ev("n = 1 OR FALSE")).toBe(null);
    expect(ev("NOT (n = 1)")).toBe(null);
    expect(ev("NOT b")).toBe(false);
  });
  test("precedence: AND binds tighter than OR", () => {
    expect(ev("TRUE OR TRUE AND FALSE")).toBe(true);
    expect(ev("FALSE AND FALSE OR TRUE")).toBe(true);
    expect(ev("(TRUE OR TRUE) AND FALSE")).toBe(false);
  });
  test("IS [NOT] NULL, IS TRUE", () => {
    expect(ev("n IS NULL")).toBe(true);
    expect(ev("i IS NOT NULL")).toBe(true);
    expect(ev("(n = 1) IS NULL")).toBe(true);
    expect(ev("b IS TRUE")).toBe(true);
  });
  test("IN / NOT IN with NULL", () => {
    expect(ev("i IN (1, 7)")).toBe(true);
    expect(ev("i IN (1, 2)")).toBe(false);
    expect(ev("i IN (1, NULL)")).toBe(null);
    expect(ev("i NOT IN (1, NULL)")).toBe(null);
    expect(ev("i NOT IN (1, 2)")).toBe(true);
    expect(ev("n IN (1)")).toBe(null);
    expect(ev("price IN (150, 10)")).toBe(true);
  });
  test("comparisons across types", () => {
    expect(ev("price >= 100")).toBe(true);
    expect(ev("price > freight")).toBe(true);
    expect(ev("'9.5' < price")).toBe(true); // literal takes the column's type: numeric compare
    expect(ev("ts < ts2")).toBe(true);
    expect(ev("ts > '2024-05-01'")).toBe(true);
    expect(ev("i BETWEEN 5 AND 7")).toBe(true);
    expect(ev("n = n")).toBe(null);
  });
});

describe("strings", () => {
  test("functions", () => {
    expect(ev("UPPER(TRIM(s))")).toBe("HELLO WORLD");
    expect(ev("LOWER(s)")).toBe("  hello world ");
    expect(ev("LENGTH(TRIM(s))")).toBe(11);
    expect(ev("SUBSTRING(TRIM(s), 1, 5)")).toBe("Hello");
    expect(ev("SUBSTRING(TRIM(s), 7)")).toBe("World");
    expect(ev("CONCAT('a', n, 'b', i)")).toBe("ab7");
    expect(ev("'a' || n")).toBe(null);
    expect(ev("'x' || i")).toBe("x7");
    expect(ev("REPLACE(s, 'o', '0')")).toBe("  Hell0 W0rld ");
    expect(ev("TRIM(BOTH 'x' FROM 'xxhixx')")).toBe("hi");
    expect(ev("'it''s'")).toBe("it's");
  });
  test("LIKE / ILIKE", () => {
    expect(ev("s LIKE '%World%'")).toBe(true);
    expect(ev("s LIKE '%world%'")).toBe(false);
    expect(ev("s ILIKE '%world%'")).toBe(true);
    expect(ev("'a_c' LIKE 'a\\_c'")).toBe(true);
    expect(ev("'abc' LIKE 'a_c'")).toBe(true);
    expect(ev("s NOT LIKE 'H%'")).toBe(true);
    expect(ev("n::text LIKE 'a'")).toBe(null); // n is an integer: Postgres has no integer ~~ text
  });
});

describe("CASE, COALESCE, CAST", () => {
  test("CASE", () => {
    const cat = "CASE WHEN price >= 100 THEN 'HIGH' WHEN price >= 50 THEN 'MEDIUM' ELSE 'LOW' END";
    expect(ev(cat)).toBe("HIGH");
    expect(ev(cat, { ...ROW, price: "50.00" })).toBe("MEDIUM");
    expect(ev(cat, { ...ROW, price: "49.99" })).toBe("LOW");
    expect(ev("CASE i WHEN 7 THEN 'seven' END")).toBe("seven");
    expect(ev("CASE i WHEN 8 THEN 'eight' END")).toBe(null);
  });
  test("COALESCE / NULLIF", () => {
    expect(ev("COALESCE(n, i, 0)")).toBe(7);
    expect(ev("COALESCE(n, 0.5)")).toBe("0.5");
    expect(ev("NULLIF(i, 7)")).toBe(null);
    expect(ev("NULLIF(i, 8)")).toBe(7);
  });
  test("CAST", () => {
    expect(ev("CAST(price AS int)")).toBe(150);
    expect(ev("CAST('12.345' AS numeric(10,2))")).toBe("12.35");
    expect(ev("CAST(i AS text)")).toBe("7");
    expect(ev("price::text")).toBe("150.00");
    expect(ev("CAST('2024-05-01 12:00:00+02' AS timestamptz)")).toBe("2024-05-01 10:00:00+00");
    expect(ev("CAST(ts AS date)")).toBe("2024-05-01");
    expect(ev("CAST('true' AS boolean)")).toBe(true);
    expect(ev("CAST(big AS text)")).toBe("9007199254740993");
    expect(() => ev("CAST(s AS int)")).toThrow(EvalError);
    expect(() => ev("CAST('x' AS int)")).toThrow(CompileError); // a constant fails at config load
    expect(typeOf("CAST(price AS numeric(12,2))").typeName).toBe("numeric(12,2)");
  });
});

describe("numbers", () => {
  test("ROUND/ABS/FLOOR/CEIL", () => {
    expect(ev("ROUND(2.345, 2)")).toBe("2.35");
    expect(ev("ROUND(-2.5)")).toBe("-3");
    expect(ev("ROUND(price / 7, 2)")).toBe("21.43");
    expect(ev("ABS(-price)")).toBe("150.00");
    expect(ev("ABS(-3)")).toBe(3);
    expect(ev("FLOOR(-1.5)")).toBe("-2");
    expect(ev("CEIL(1.2)")).toBe("2");
    expect(ev("ROUND(f)")).toBe(2);
  });
});

describe("time", () => {
  test("EXTRACT and shorthands keep microseconds and read time zones", () => {
    expect(ev("EXTRACT(YEAR FROM ts)")).toBe("2024");
    expect(ev("EXTRACT(EPOCH FROM ts)")).toBe("1714557600.123456");
    expect(ev("EXTRACT(SECOND FROM ts)")).toBe("0.123456");
    expect(ev("YEAR(ts)")).toBe(2024);
    expect(ev("MONTH(ts)")).toBe(5);
    expect(ev("DAY(ts)")).toBe(1);
    expect(ev("HOUR('2024-05-01 01:30:00+05:30')")).toBe(20); // 2024-04-30 20:00 UTC
    expect(ev("DAY('2024-05-01 01:30:00+05:30')")).toBe(30);
    expect(ev("MONTH(lts)")).toBe(12);
  });
  test("DATE_TRUNC", () => {
    expect(ev("DATE_TRUNC('hour', ts)")).toBe("2024-05-01 10:00:00+00");
    expect(ev("DATE_TRUNC('month', ts)")).toBe("2024-05-01 00:00:00+00");
    expect(ev("DATE_TRUNC('second', lts)")).toBe("2024-12-31 23:59:59");
    expect(ev("DATE_TRUNC('week', ts)")).toBe("2024-04-29 00:00:00+00");
  });
  test("date differences in days", () => {
    expect(ev("d - d2")).toBe(2); // leap year
    expect(ev("DATE_DIFF('day', ts, ts2)")).toBe(2n); // 2 days 23 hours: whole days
    expect(ev("DATEDIFF(ts2, ts)")).toBe(3); // calendar days
    expect(ev("DATE_DIFF('hour', ts, ts2)")).toBe(70n);
    expect(ev("DATE_DIFF('day', ts, NULL)")).toBe(null);
    expect(ev("d + 1")).toBe("2024-03-02");
  });
  test("microseconds survive comparisons", () => {
    expect(ev("ts = '2024-05-01 10:00:00.123456+00'")).toBe(true);
    expect(ev("ts = '2024-05-01 10:00:00.123457+00'")).toBe(false);
    expect(ev("ts = '2024-05-01 12:00:00.123456+02'")).toBe(true);
  });
});

describe("json and MAP", () => {
  test("->, ->>, #>>", () => {
    expect(ev("payload->>'s'")).toBe("str");
    expect(ev("payload->'a'->>'b'")).toBe("x");
    expect(ev("payload->'a'->'n'")).toBe("12");
    expect(ev("payload->'arr'->>1")).toBe("2");
    expect(ev("payload->>'missing'")).toBe(null);
    expect(ev("payload #>> '{a,b}'")).toBe("x");
    expect(ev("CAST(payload->'a'->>'n' AS int) + 1")).toBe(13);
  });
  test("MAP with default", () => {
    expect(ev("MAP('groups', 'informatica_acessorios', 'Other')")).toBe("Electronics");
    expect(ev("MAP('groups', 'nope', 'Other')")).toBe("Other");
    expect(ev("MAP('groups', n, 'Other')")).toBe("Other");
  });
});

describe("config-time errors", () => {
  test("unknown column or function", () => {
    expect(() => ev("nope + 1")).toThrow(CompileError);
    expect(() => ev("FOO(i)")).toThrow("unknown function FOO()");
    expect(() => ev("NOW()")).toThrow(CompileError);
    expect(() => ev("MAP('missing', s)")).toThrow("unknown map");
    expect(() => ev("UPPER(s, s)")).toThrow(CompileError);
  });
});
