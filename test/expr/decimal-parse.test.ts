import { expect, test } from "bun:test";
import { Dec } from "../../src/expr/decimal.ts";

/**
 * Dec.parse takes numeric text of at most 15 digits through an integer accumulated in a double
 * (exact below 2^53). Each case must give the unscaled value and scale Postgres' numeric input
 * gives, and text numeric rejects must be rejected; 16 digits and more take the BigInt path.
 */
const cases: [string, string | null][] = [
  ["0", "0"], ["-0", "0"], ["1.", "1"], [".5", "0.5"], ["-.5", "-0.5"], ["123.45", "123.45"],
  ["-123.45", "-123.45"], ["00012.3400", "12.3400"], ["0.000000000000001", "0.000000000000001"],
  ["999999999999999", "999999999999999"], ["-99999999999999.9", "-99999999999999.9"],
  // 16 digits: past what a double holds exactly
  ["9999999999999999", "9999999999999999"], ["9007199254740993", "9007199254740993"],
  ["123456789012345.6", "123456789012345.6"], ["1234567890123456789.123", "1234567890123456789.123"],
  ["1e5", "100000"], [" 1", "1"], ["+1.5", "1.5"],
  ["-", null], [".", null], ["-.", null], ["1.2.3", null], ["12a", null], ["", null], ["--1", null],
];

test("numeric text parses to Postgres' value and scale, on the short path and the long one", () => {
  for (const [text, want] of cases) {
    let got: string | null;
    try {
      got = Dec.parse(text).toString();
    } catch {
      got = null;
    }
    expect({ text, got }).toEqual({ text, got: want });
  }
  expect(Dec.parse("150.00").s).toBe(2);
  expect(Dec.parse("-0.10").u).toBe(-10n);
});

test("numeric division has Postgres' result scale, a zero dividend included", async () => {
  const { sharedPg } = await import("../helpers/index.ts");
  const postgres = (await import("postgres")).default;
  const pg = await sharedPg("system");
  const sql = postgres(pg.url(), { max: 1, onnotice: () => {} });
  try {
    const pairs: [string, string][] = [["0.00", "3"], ["0", "10000"], ["0", "0.5"], ["-0.000", "7.25"], ["1.00", "3"], ["12345.6789", "0.003"], ["0.0001", "99999"]];
    for (const [a, b] of pairs) {
      const [{ q }] = await sql.unsafe(`select (${a}::numeric / ${b}::numeric)::text as q`);
      expect({ a, b, q: Dec.parse(a).div(Dec.parse(b)).toString() }).toEqual({ a, b, q });
    }
  } finally {
    await sql.end();
  }
});
