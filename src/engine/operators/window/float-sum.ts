/**
 * The exact sum of doubles: `m * 2^e` with a bigint `m`. Every finite double is an integer times
 * a power of two, so adding one (or taking it back) is exact, and the sum does not depend on the
 * order the values came in, nor on how panes were merged or which checkpoint it was restored from.
 * `round()` gives the double (or float4) nearest to it, ties to even: the correctly rounded sum.
 *
 * A plain double sum drifts under retraction: 0.1 + 0.2 - 0.1 is 0.20000000000000004, a value no
 * order of the rows left (0.2) sums to. Postgres itself adds in scan order, which it never has to
 * undo; see README "Windows and aggregates" for how the two compare.
 */
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HI = LITTLE ? 1 : 0;
const LO = LITTLE ? 0 : 1;

/** 2^k as a double, exactly, for -1074 <= k <= 1023 (Math.pow's exactness is not promised). */
function pow2(k: number): number {
  if (k > 1023) return Infinity;
  if (k >= -1022) {
    U32[HI] = (k + 1023) << 20;
    U32[LO] = 0;
  } else {
    const bit = k + 1074; // subnormal: one mantissa bit
    U32[HI] = bit >= 32 ? 1 << (bit - 32) : 0;
    U32[LO] = bit < 32 ? (1 << bit) >>> 0 : 0;
  }
  return F64[0];
}

function bitLength(a: bigint): number {
  const hex = a.toString(16);
  return (hex.length - 1) * 4 + (32 - Math.clz32(parseInt(hex[0], 16)));
}

/** Where the float formats round: significant bits, smallest exponent (subnormal step), overflow. */
export const FLOAT8 = { bits: 53, minExp: -1074, maxExp: 1024 } as const;
export const FLOAT4 = { bits: 24, minExp: -149, maxExp: 128 } as const;
type Format = { bits: number; minExp: number; maxExp: number };

export class FloatSum {
  m = 0n;
  e = 0;

  /** Adds (sign 1) or takes back (sign -1) a finite double. */
  add(v: number, sign: 1 | -1): void {
    if (v === 0) return;
    F64[0] = v;
    const hi = U32[HI];
    const bexp = (hi >>> 20) & 0x7ff;
    let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(U32[LO]);
    let e: number;
    if (bexp === 0) e = -1074;
    else {
      mant |= 1n << 52n;
      e = bexp - 1075;
    }
    if ((hi >>> 31 === 1) !== (sign === -1)) mant = -mant;
    this.addScaled(mant, e);
  }

  /** Adds `n * 2^e` exactly (n an integer). */
  addScaled(n: bigint, e: number): void {
    if (n === 0n) return;
    if (this.m === 0n) {
      this.m = n;
      this.e = e;
    } else if (e >= this.e) this.m += n << BigInt(e - this.e);
    else {
      this.m = (this.m << BigInt(this.e - e)) + n;
      this.e = e;
    }
    if (this.m === 0n) this.e = 0;
  }

  merge(o: FloatSum): void {
    this.addScaled(o.m, o.e);
  }

  isZero(): boolean {
    return this.m === 0n;
  }

  /** The exact sum plus the integer `int`, rounded to the nearest value of the format (ties to even); ±Infinity past its range. */
  round(int: bigint = 0n, f: Format = FLOAT8): number {
    let m = this.m;
    let e = this.e;
    if (int !== 0n) {
      if (m === 0n) (m = int), (e = 0);
      else if (e <= 0) m += int << BigInt(-e);
      else (m = (m << BigInt(e)) + int), (e = 0);
    }
    if (m === 0n) return 0;
    const neg = m < 0n;
    let a = neg ? -m : m;
    const len = bitLength(a);
    // the lowest bit kept: `bits` significant bits, but never below the subnormal step
    const keep = Math.max(e + len - f.bits, f.minExp);
    if (keep > e) {
      const shift = BigInt(keep - e);
      const rest = a & ((1n << shift) - 1n);
      const half = 1n << (shift - 1n);
      a >>= shift;
      if (rest > half || (rest === half && (a & 1n) === 1n)) a += 1n;
      e = keep;
    }
    // a < 2^(bits+1) and a * 2^e lies on the format's grid: the products below are exact
    if (e + bitLength(a) > f.maxExp) return neg ? -Infinity : Infinity;
    const x = Number(a);
    const r = e >= -1022 ? x * pow2(e) : (x * pow2(e + 64)) * pow2(-64);
    return neg ? -r : r;
  }

  /** Checkpoint form: [m as text, e]. */
  save(): [string, number] {
    return [this.m.toString(), this.e];
  }

  static load(s: unknown): FloatSum {
    const f = new FloatSum();
    if (typeof s === "number") {
      if (Number.isFinite(s)) f.add(s, 1); // a checkpoint from before: its plain double sum
    } else if (Array.isArray(s)) {
      f.m = BigInt(s[0] as string);
      f.e = f.m === 0n ? 0 : (s[1] as number);
    }
    return f;
  }
}
