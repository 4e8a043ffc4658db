import { Dec } from "./decimal.ts";
import { EvalError } from "./eval-error.ts";

/**
 * `real` (float4) values. The engine carries a real as the double of its shortest text (what the
 * source decodes a real column to: 0.1, not 0.100000001490116…), so a real passes through to a
 * sink and prints as Postgres prints it. Arithmetic and widening to double use the float4 itself
 * (Math.fround of the carried double: the same float4, as the shortest text reads back to it).
 */

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/**
 * The double of the text float4out prints for the float4 `f` (f already a float4): the fewest
 * digits strictly inside f's rounding interval (Postgres builds Ryu without STRICTLY_SHORTEST, so
 * a decimal exactly halfway to the next float4 is not taken: 1.3800641e+10, not 1.380064e+10),
 * of those the nearest to f, a tie to the even digit (1234567.25 prints 1234567.2).
 */
export function realValue(f: number): number {
  if (f === 0 || !Number.isFinite(f)) return f;
  return quickRealValue(f) ?? exactRealValue(f);
}

/**
 * realValue's common case without BigInt (~6× faster; the binary source decodes every real with
 * it): the shortest toPrecision() that reads back as f, when Ryu's choice cannot differ from it.
 * It can only where f is a power of two (its rounding interval is lopsided, so a digit string
 * farther from f may fit where the nearest does not), where f is exactly halfway between two
 * digit strings (toPrecision rounds the tie up, Ryu to even: an exact expansion of at most ten
 * digits ending in 5), or where the digits fall on the interval's edge (Ryu excludes it); null there.
 */
function quickRealValue(f: number): number | null {
  const a = Math.abs(f);
  F32[0] = a;
  const bits = U32[0];
  if ((bits & 0x7fffff) === 0) return null;
  for (let p = 1; p <= 9; p++) {
    const n = Number(a.toPrecision(p));
    if (Math.fround(n) !== a) continue;
    // a tie at p digits or fewer: f's exact digits (when ten or fewer) end in 5 at digit p + 1 or before
    const s10 = a.toPrecision(10);
    if (Number(s10) === a) {
      const digits = s10.split("e")[0].replace(".", "").replace(/^0+/, "").replace(/0+$/, "");
      if (digits.endsWith("5") && digits.length <= p + 1) return null;
    }
    U32[0] = bits - 1;
    const below = F32[0];
    U32[0] = bits + 1;
    const above = F32[0]; // Infinity past the largest float4: no edge above
    // midpoints to the neighbours are exact doubles; a string that parses strictly inside is inside
    if (n > (a + below) / 2 && n < (a + above) / 2) return f < 0 ? -n : n;
    return null;
  }
  return null;
}

/** realValue exactly (BigInt arithmetic on the rounding interval). */
export function exactRealValue(f: number): number {
  if (f === 0 || !Number.isFinite(f)) return f;
  const a = Math.abs(f);
  for (let p = 1; p <= 9; p++) {
    const [m, e] = a.toExponential(p - 1).split("e");
    const d = BigInt(m.replace(".", ""));
    const exp = Number(e) - (p - 1); // a ≈ d × 10^exp
    // the nearest p digits (d), or a neighbour when d falls outside the interval or ties; fround is the cheap first test
    const near = [d - 1n, d, d + 1n].filter((x) => x > 0n && Math.fround(Number(`${x}e${exp}`)) === a);
    if (near.length === 0) continue;
    const best = nearestInside(near, a, exp);
    if (best !== null) return (f < 0 ? -1 : 1) * Number(`${best}e${exp}`);
  }
  return f; // not reached: 9 digits always fall inside
}

/** Of the digit strings `ds` (× 10^exp), the nearest to the float4 `a` strictly inside its rounding interval (exact, in units of 2^-149); null when none is. */
function nearestInside(ds: bigint[], a: number, exp: number): bigint | null {
  F32[0] = a;
  const field = U32[0] >>> 23;
  const ulp = field <= 1 ? 1n : 1n << BigInt(field - 1); // the gap to the next float4 up
  const below = field > 1 && (U32[0] & 0x7fffff) === 0 ? ulp >> 1n : ulp; // half as wide below a power of two
  const up10 = exp > 0 ? 10n ** BigInt(exp) : 1n;
  const down10 = exp < 0 ? 10n ** BigInt(-exp) : 1n;
  const x = BigInt(a * 2 ** 149) * down10; // a × 2^149 × down10, exactly
  let best: bigint | null = null;
  let bestDist = 0n;
  for (const d of ds) {
    const diff = ((d * up10) << 149n) - x;
    const dist = diff < 0n ? -diff : diff;
    if (2n * dist >= (diff < 0n ? below : ulp) * down10) continue; // on or past the midpoint to a neighbour
    if (best === null || dist < bestDist || (dist === bestDist && d % 2n === 0n)) {
      best = d;
      bestDist = dist;
    }
  }
  return best;
}

/**
 * A double rounded to float4, as Postgres' float4 results are checked (float.h): infinite from
 * finite operands is an overflow, zero from non-zero ones an underflow (when `underflowOk` is false).
 */
export function realOf(x: number, overflowOk: boolean, underflowOk: boolean): number {
  const f = Math.fround(x);
  if (!overflowOk && (f === Infinity || f === -Infinity)) throw new EvalError("value out of range: overflow");
  if (!underflowOk && f === 0 && x !== 0) throw new EvalError("value out of range: underflow");
  return realValue(f);
}

/**
 * CAST(x AS real). From a double: float84's overflow/underflow errors. From text or numeric:
 * float4in's (`"1e-50" is out of range for type real`). Integers round to the nearest float4.
 */
export function toReal(v: unknown, toFloat: (v: unknown) => number): number {
  if (typeof v === "number") return realOf(v, !Number.isFinite(v), v === 0);
  if (typeof v === "bigint") return realValue(Math.fround(Number(v)));
  const text = v instanceof Dec ? v.toString() : String(v).trim();
  let x: number;
  try {
    x = toFloat(v);
  } catch (e) {
    if (e instanceof EvalError) throw new EvalError(e.message.replace("double precision", "real"));
    throw e;
  }
  const f = Math.fround(x);
  if ((Number.isFinite(x) && !Number.isFinite(f)) || (f === 0 && x !== 0)) throw new EvalError(`'${text}' is out of range for type real`);
  return realValue(f);
}

/**
 * A real as Postgres prints it (float4out): the shortest digits that read back as the same
 * float4, in exponent form below 1e-4 or from 1e6 on (1.234567e+06, 3.4e+38), and -0.
 */
export function realText(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const n = realValue(Math.fround(v));
  const [mant, e] = n.toExponential().split("e");
  const exp = Number(e);
  if (exp < -4 || exp >= 6) return `${mant}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  return String(n);
}

/** A real's value as another type reads it: text as float4out, numeric from its 6 digits (FLT_DIG, as float4_numeric), else the float4 widened. */
export function fromReal(toKind: string, v: unknown): unknown {
  if (typeof v !== "number") return v;
  if (toKind === "text" || toKind === "unknown" || toKind === "json" || toKind === "jsonb") return realText(v);
  if (toKind === "numeric") return Number.isFinite(v) ? Number(Math.fround(v).toPrecision(6)) : v;
  return Math.fround(v);
}
