import { Dec } from "../../../expr/decimal.ts";
import type { Kind } from "../../../expr/types.ts";
import { EvalError, toDec } from "../../../expr/values.ts";
import { FLOAT4, FLOAT8, FloatSum } from "./float-sum.ts";

/** A decimal whose unscaled value is below this adds into `SumAcc.di` (an exact integer in a double). */
const DI_MAX = 1n << 50n;
const DI_FLUSH = 4e15; // < 2^52: the sum of the two stays an exact integer

/** An integer number below this (an int4, or a double holding an integer) adds into `SumAcc.i`. */
const I_MAX = 2 ** 31;
const ZERO = new FloatSum();

/**
 * Sum state: small integers in a float (exact below 2^52), overflow in bigint, decimals, and the
 * other doubles exactly (FloatSum: a float SUM is the correctly rounded sum of its rows).
 * Decimals of one scale sum the same way: their unscaled integers in `di` at scale `ds` (each
 * below 2^50, flushed into the exact `d` past 4e15, so every value `di` holds is an integer a
 * double represents exactly); other scales and larger values add into `d` directly. This spares
 * a bigint and a Dec per event (bench/windows.ts numeric tumbling).
 */
export class SumAcc {
  i = 0;
  b = 0n;
  d: Dec | null = null;
  di = 0;
  ds = -1;
  /**
   * Rows per decimal scale (index = scale): Postgres gives SUM(numeric) the largest scale of the
   * rows summed, so once the last 0.125 is retracted, 1.10 + 2 prints 3.10 again, not 3.100.
   * null with `scalesLost` after a restore from a checkpoint written before this was kept.
   */
  sc: number[] | null = null;
  scalesLost = false;
  /** Doubles that are not small integers (0.1, 1e20), exactly; null while there are none. */
  f: FloatSum | null = null;
  /** Rows whose value is a double -0 (a float SUM of only -0 is -0, as in Postgres). */
  nz = 0;
  n = 0;
  /**
   * Counts of NaN, +Infinity and -Infinity float values, apart from `f`: a retraction must take
   * them back (NaN - NaN is NaN, Infinity - Infinity is NaN), so they never enter the sum.
   */
  odd: [number, number, number] | null = null;
  /**
   * An upper bound of |the finite numbers' sum| (the sum of their |v| since the last exact check):
   * while it is below half the range, no overflow check needs the exact sum. Unknown (Infinity)
   * after a restore or a merge of a restored state: the next check is exact.
   */
  fb = 0;
  add(v: unknown, sign: 1 | -1): void {
    this.n += sign;
    if (typeof v === "number") {
      this.fb += v < 0 ? -v : v;
      if (!Number.isFinite(v)) {
        const o = (this.odd ??= [0, 0, 0]);
        o[Number.isNaN(v) ? 0 : v > 0 ? 1 : 2] += sign;
      } else if (Number.isInteger(v) && v < I_MAX && v > -I_MAX) {
        // i stays below 4e15 + 2^31: every sum is an exact integer (a double near 2^53 was not)
        this.i += sign * v;
        if (v === 0 && 1 / v < 0) this.nz += sign;
        if (this.i > 4e15 || this.i < -4e15) {
          this.b += BigInt(this.i);
          this.i = 0;
        }
      } else (this.f ??= new FloatSum()).add(v, sign);
    } else if (typeof v === "bigint") this.b += sign === 1 ? v : -v;
    else {
      const x = v instanceof Dec ? v : toDec(v);
      if (!this.scalesLost) {
        const sc = (this.sc ??= []);
        sc[x.s] = (sc[x.s] ?? 0) + sign;
      }
      if (x.u < DI_MAX && x.u > -DI_MAX) this.addUnscaled(sign * Number(x.u), x.s);
      else this.addDec(sign === 1 ? x : x.neg());
    }
  }
  /** Adds `n` (an exact integer below 2^53) at scale `s`: into `di` when it has that scale, else into `d`. */
  private addUnscaled(n: number, s: number): void {
    if (this.ds >= 0 && this.ds !== s) return this.addDec(new Dec(BigInt(n), s));
    this.ds = s;
    this.di += n;
    if (this.di > DI_FLUSH || this.di < -DI_FLUSH) this.flushDi();
  }
  private addDec(y: Dec): void {
    this.d = this.d ? this.d.add(y) : y;
  }
  /** The exact decimal sum: `d` plus what `di` holds. */
  private dec(): Dec | null {
    if (this.ds < 0) return this.d;
    const y = new Dec(BigInt(this.di), this.ds);
    return this.d ? this.d.add(y) : y;
  }
  /** The decimal sum at the largest scale among the rows summed now (exact: retracted rows cancel). */
  private shownDec(): Dec | null {
    const d = this.dec();
    if (!d || !this.sc) return d;
    let top = this.sc.length - 1;
    while (top >= 0 && !this.sc[top]) top--;
    if (top < 0) return d.isZero() ? null : d;
    return top < d.s ? d.withScale(top) : d;
  }
  private flushDi(): void {
    this.d = this.dec();
    this.di = 0;
  }
  merge(o: SumAcc): void {
    this.i += o.i;
    this.b += o.b;
    if (o.d) this.addDec(o.d);
    if (o.ds >= 0) this.addUnscaled(o.di, o.ds);
    if (o.scalesLost) {
      this.scalesLost = true;
      this.sc = null;
    } else if (o.sc && !this.scalesLost) {
      const sc = (this.sc ??= []);
      o.sc.forEach((c, s) => (sc[s] = (sc[s] ?? 0) + c));
    }
    if (o.f) (this.f ??= new FloatSum()).merge(o.f);
    this.fb += o.fb;
    this.nz += o.nz;
    this.n += o.n;
    if (o.odd) {
      const x = (this.odd ??= [0, 0, 0]);
      for (let k = 0; k < 3; k++) x[k] += o.odd[k];
    }
    if (this.i > 4e15 || this.i < -4e15) {
      this.b += BigInt(this.i);
      this.i = 0;
    }
  }
  total(kind: Kind): unknown {
    if (this.n === 0) return null;
    if (kind === "float") return this.floatTotal(false, true);
    if (kind === "int") return this.b + BigInt(this.i);
    const whole = new Dec(this.b + BigInt(this.i), 0);
    const d = this.shownDec();
    return d ? d.add(whole) : whole;
  }
  /**
   * A float sum (null for no rows): the exact sum of the rows' values rounded once, to a double or
   * (`float4`) to a real; -0 when every value is -0 and `negZero` (SUM; AVG starts from 0 in
   * Postgres, so its sum of -0s is 0). NaN, ±Infinity as Postgres' float addition gives them.
   */
  floatTotal(float4: boolean, negZero: boolean): number | null {
    if (this.n === 0) return null;
    const o = this.odd;
    if (o && (o[0] > 0 || (o[1] > 0 && o[2] > 0))) return NaN;
    if (o && o[1] > 0) return Infinity;
    if (o && o[2] > 0) return -Infinity;
    const int = this.b + BigInt(this.i);
    let r = (this.f ?? ZERO).round(int, float4 ? FLOAT4 : FLOAT8);
    // rows that would take one pane's sum past the range are refused (sum-overflow.ts): only a
    // merge of panes or a session's rows gets here with one, and Postgres errors for it
    if (r === Infinity || r === -Infinity) throw new EvalError("value out of range: overflow");
    const d = this.dec(); // decimals are not a float's values; kept as before, rounded
    if (d) r += d.toNumber();
    return r === 0 && negZero && this.nz >= this.n ? -0 : r;
  }
  /**
   * Whether the finite numbers' exact sum is past the range of a double (or of a float4: SUM of
   * real): Postgres' "value out of range: overflow" for a float SUM/AVG. NaN and ±Infinity rows
   * are kept apart and never make it true, so taking them back cannot reveal an overflowed sum.
   */
  floatOutOfRange(float4: boolean): boolean {
    if (this.fb < (float4 ? 2 ** 127 : 2 ** 1023)) return false;
    const r = (this.f ?? ZERO).round(this.b + BigInt(this.i), float4 ? FLOAT4 : FLOAT8);
    if (r === Infinity || r === -Infinity) return true;
    this.fb = Math.abs(r) * (1 + 2 ** -20); // the exact sum is within half a float4 step of r
    return false;
  }
  save(): unknown[] {
    const d = this.dec(); // `di` folds into the saved decimal: the saved form is as before
    // the doubles' exact sum as [m, e, rows that are -0]; 0 when there is none (the old form: a double)
    const f = (this.f && !this.f.isZero()) || this.nz ? [...(this.f ?? ZERO).save(), this.nz] : 0;
    const out: unknown[] = [this.i, this.b.toString(), d ? d.toString() : null, f, this.n];
    const odd = this.odd && this.odd.some((x) => x !== 0) ? this.odd : null;
    const scales = this.sc && !this.scalesLost ? Object.fromEntries(this.sc.flatMap((c, s) => (c ? [[s, c]] : []))) : null;
    if (odd || scales) out.push(odd);
    if (scales) out.push(scales);
    return out;
  }
  static load(s: unknown[]): SumAcc {
    const a = new SumAcc();
    a.fb = Infinity; // not saved: the first overflow check after a restore is exact
    a.i = s[0] as number;
    a.b = BigInt(s[1] as string);
    a.d = s[2] === null ? null : Dec.parse(s[2] as string);
    if (s[3] !== 0) a.f = FloatSum.load(s[3]);
    if (Array.isArray(s[3])) a.nz = (s[3][2] as number | undefined) ?? 0;
    a.n = s[4] as number;
    if (Array.isArray(s[5])) a.odd = [...(s[5] as [number, number, number])];
    if (s[6] && typeof s[6] === "object") {
      a.sc = [];
      for (const [k, c] of Object.entries(s[6] as Record<string, number>)) a.sc[Number(k)] = c;
    } else if (a.d !== null) a.scalesLost = true; // an older checkpoint: its decimals' scales are unknown
    return a;
  }
}
