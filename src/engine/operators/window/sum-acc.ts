import { Dec } from "../../../expr/decimal.ts";
import type { Kind } from "../../../expr/types.ts";
import { toDec } from "../../../expr/values.ts";

/** A decimal whose unscaled value is below this adds into `SumAcc.di` (an exact integer in a double). */
const DI_MAX = 1n << 50n;
const DI_FLUSH = 4e15; // < 2^52: the sum of the two stays an exact integer

/**
 * Sum state: small integers in a float (exact below 2^52), overflow in bigint, decimals, floats.
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
  f = 0;
  n = 0;
  /**
   * Counts of NaN, +Infinity and -Infinity float values, apart from `f`: a retraction must take
   * them back (NaN - NaN is NaN, Infinity - Infinity is NaN), so they never enter the sum.
   */
  odd: [number, number, number] | null = null;
  add(v: unknown, sign: 1 | -1): void {
    this.n += sign;
    if (typeof v === "number") {
      if (!Number.isFinite(v)) {
        const o = (this.odd ??= [0, 0, 0]);
        o[Number.isNaN(v) ? 0 : v > 0 ? 1 : 2] += sign;
      } else if (Number.isInteger(v)) {
        this.i += sign * v;
        if (this.i > 4e15 || this.i < -4e15) {
          this.b += BigInt(this.i);
          this.i = 0;
        }
      } else this.f += sign * v;
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
    this.f += o.f;
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
    if (kind === "float") {
      const o = this.odd;
      if (o && (o[0] > 0 || (o[1] > 0 && o[2] > 0))) return NaN;
      if (o && o[1] > 0) return Infinity;
      if (o && o[2] > 0) return -Infinity;
      const d = this.dec();
      return this.f + this.i + Number(this.b) + (d ? d.toNumber() : 0);
    }
    if (kind === "int") return this.b + BigInt(this.i);
    const whole = new Dec(this.b + BigInt(this.i), 0);
    const d = this.shownDec();
    return d ? d.add(whole) : whole;
  }
  save(): unknown[] {
    const d = this.dec(); // `di` folds into the saved decimal: the saved form is as before
    const out: unknown[] = [this.i, this.b.toString(), d ? d.toString() : null, this.f, this.n];
    const odd = this.odd && this.odd.some((x) => x !== 0) ? this.odd : null;
    const scales = this.sc && !this.scalesLost ? Object.fromEntries(this.sc.flatMap((c, s) => (c ? [[s, c]] : []))) : null;
    if (odd || scales) out.push(odd);
    if (scales) out.push(scales);
    return out;
  }
  static load(s: unknown[]): SumAcc {
    const a = new SumAcc();
    a.i = s[0] as number;
    a.b = BigInt(s[1] as string);
    a.d = s[2] === null ? null : Dec.parse(s[2] as string);
    a.f = s[3] as number;
    a.n = s[4] as number;
    if (Array.isArray(s[5])) a.odd = [...(s[5] as [number, number, number])];
    if (s[6] && typeof s[6] === "object") {
      a.sc = [];
      for (const [k, c] of Object.entries(s[6] as Record<string, number>)) a.sc[Number(k)] = c;
    } else if (a.d !== null) a.scalesLost = true; // an older checkpoint: its decimals' scales are unknown
    return a;
  }
}
