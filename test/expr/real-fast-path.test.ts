import { expect, test } from "bun:test";
import { exactRealValue, realValue } from "../../src/expr/real.ts";

/**
 * realValue's quick path (toPrecision, no BigInt) must give exactRealValue's answer, which
 * test/expr/real-parity.test.ts checks against Postgres' float4out: random bit patterns over every
 * exponent, and the values where the two ways part (ties such as 1234567.25, powers of two,
 * integers up to 2^24 and past it, values with few fractional bits, subnormals).
 */
test("the quick path agrees with the exact one on 100,000 float4 values", () => {
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  const values: number[] = [1234567.25, 1.3800641e10, 16777217, 16777215, 0.1, 3.4028235e38, 1e-45, 1.17549435e-38];
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
  for (let i = 0; i < 40_000; i++) {
    u32[0] = Math.floor(rand() * 0x7f800000); // every finite positive bit pattern alike
    values.push(f32[0], -f32[0]);
  }
  for (let i = 0; i < 20_000; i++) values.push(Math.fround(Math.floor(rand() * 2 ** 26) / 2 ** Math.floor(rand() * 8))); // few fractional bits: ties
  for (let e = -149; e <= 127; e++) values.push(2 ** e, Math.fround(2 ** e * 1.5));
  let differ = 0;
  const firstDiffs: string[] = [];
  for (const v of values) {
    const a = realValue(v), b = exactRealValue(v);
    if (!Object.is(a, b)) {
      differ++;
      if (firstDiffs.length < 5) firstDiffs.push(`${v}: quick ${a}, exact ${b}`);
    }
  }
  expect(firstDiffs).toEqual([]);
  expect(differ).toBe(0);
  expect(realValue(1234567.25)).toBe(1234567.2);
  expect(realValue(Math.fround(1.3800641e10))).toBe(1.3800641e10);
}, 60_000); // ~1.5 s alone; the exact way is ~9 µs a value and CI runs beside other suites
