import Decimal from "decimal.js";

/**
 * Exact decimal value as Postgres numeric behaves: an unscaled bigint plus a display scale.
 * + - * stay in bigint (fast, exact, and keep Postgres' result scale: 150.00 + 15.50 = 165.50);
 * division, modulo and rounding go through decimal.js with Postgres' division scale rule.
 */
const D = Decimal.clone({ precision: 120, rounding: Decimal.ROUND_HALF_UP });
const POW10: bigint[] = [];
for (let i = 0; i <= 64; i++) POW10.push(10n ** BigInt(i));
function pow10(n: number): bigint {
  return n < POW10.length ? POW10[n] : 10n ** BigInt(n);
}

const NUM_RE = /^\s*([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/;

export class Dec {
  constructor(
    readonly u: bigint,
    readonly s: number,
  ) {}

  static parse(text: string): Dec {
    // what Postgres sends for most prices and amounts ("-123.45", at most 15 digits): the digits
    // accumulate as an integer in a double, exact below 2^53 (no fraction is ever formed), and
    // one BigInt is made from it: about 3× faster than BigInt(string) on the spliced digits
    const len = text.length;
    if (len <= 16) {
      let i = text.charCodeAt(0) === 45 ? 1 : 0;
      const neg = i === 1;
      let n = 0;
      let s = -1;
      let digits = 0;
      for (; i < len; i++) {
        const c = text.charCodeAt(i);
        if (c >= 48 && c <= 57) {
          n = n * 10 + (c - 48);
          digits++;
          if (s >= 0) s++;
        } else if (c === 46 && s < 0) s = 0;
        else break;
      }
      if (i === len && digits > 0 && digits <= 15) return new Dec(BigInt(neg ? -n : n), s < 0 ? 0 : s);
    }
    // longer text ("-123.45" with more digits): one BigInt from the spliced digits, no regex
    const last = text.charCodeAt(text.length - 1);
    const first = text.charCodeAt(0);
    if (last >= 48 && last <= 57 && ((first >= 48 && first <= 57) || first === 45)) {
      const dot = text.indexOf(".");
      try {
        if (dot < 0) return new Dec(BigInt(text), 0);
        if (dot > 0 && (dot > 1 || first !== 45)) return new Dec(BigInt(text.slice(0, dot) + text.slice(dot + 1)), text.length - dot - 1);
      } catch {
        // exponents and the like: the general parser below
      }
    }
    const m = NUM_RE.exec(text);
    if (!m || (m[2] === "" && (m[3] === undefined || m[3] === ""))) throw new RangeError(`invalid numeric '${text}'`);
    const frac = m[3] ?? "";
    let u = BigInt((m[2] || "0") + frac);
    let s = frac.length;
    if (m[4]) {
      const e = Number(m[4]);
      if (e >= s) {
        u *= pow10(e - s);
        s = 0;
      } else s -= e;
    }
    return new Dec(m[1] === "-" ? -u : u, s);
  }

  static from(v: unknown): Dec {
    if (v instanceof Dec) return v;
    if (typeof v === "bigint") return new Dec(v, 0);
    if (typeof v === "number") {
      if (Number.isInteger(v)) return new Dec(BigInt(v), 0);
      return Dec.parse(String(v));
    }
    if (typeof v === "string") return Dec.parse(v);
    if (typeof v === "boolean") return new Dec(v ? 1n : 0n, 0);
    throw new RangeError(`not a number: ${String(v)}`);
  }

  static fromDecimal(d: Decimal, scale: number): Dec {
    return Dec.parse(d.toFixed(scale));
  }

  withScale(s: number): Dec {
    if (s === this.s) return this;
    if (s > this.s) return new Dec(this.u * pow10(s - this.s), s);
    return Dec.fromDecimal(this.toDecimal(), s);
  }

  add(o: Dec): Dec {
    if (this.s === o.s) return new Dec(this.u + o.u, this.s);
    return this.s > o.s ? new Dec(this.u + o.u * pow10(this.s - o.s), this.s) : new Dec(this.u * pow10(o.s - this.s) + o.u, o.s);
  }
  sub(o: Dec): Dec {
    return this.add(new Dec(-o.u, o.s));
  }
  mul(o: Dec): Dec {
    return new Dec(this.u * o.u, this.s + o.s);
  }
  neg(): Dec {
    return new Dec(-this.u, this.s);
  }
  abs(): Dec {
    return this.u < 0n ? this.neg() : this;
  }
  isZero(): boolean {
    return this.u === 0n;
  }
  cmp(o: Dec): number {
    const a = this.s >= o.s ? this.u : this.u * pow10(o.s - this.s);
    const b = o.s >= this.s ? o.u : o.u * pow10(this.s - o.s);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  toDecimal(): Decimal {
    return new D(this.toString());
  }

  /** Postgres numeric division: result scale from select_div_scale (≥ 16 significant digits), rounded half away from zero. */
  div(o: Dec): Dec {
    if (o.u === 0n) throw new RangeError("division by zero");
    let qweight = weight(this.u, this.s) - weight(o.u, o.s);
    if (firstDigit(this.u, this.s) <= firstDigit(o.u, o.s)) qweight--;
    const rscale = Math.min(1000, Math.max(16 - qweight * 4, this.s, o.s, 0));
    // this/o = (u1 / 10^s1) / (u2 / 10^s2); scaled by 10^rscale: u1 * 10^(s2 + rscale - s1) / u2
    const e = o.s + rscale - this.s;
    let n = e >= 0 ? this.u * pow10(e) : this.u;
    let d = e >= 0 ? o.u : o.u * pow10(-e);
    if (d < 0n) {
      n = -n;
      d = -d;
    }
    let q = n / d;
    const r = n % d;
    if ((r < 0n ? -r : r) * 2n >= d) q += n < 0n ? -1n : 1n;
    return new Dec(q, rscale);
  }

  mod(o: Dec): Dec {
    if (o.u === 0n) throw new RangeError("division by zero");
    const s = Math.max(this.s, o.s);
    const a = this.withScale(s).u;
    const b = o.withScale(s).u;
    return new Dec(a % b, s); // bigint % truncates toward zero, like Postgres
  }

  round(digits = 0): Dec {
    // round(x, -n) rounds to tens, hundreds…, as Postgres (round(1234.5, -2) = 1200); decimal.js
    // refuses a negative number of places, so it is done on the unscaled integer
    if (digits < 0) {
      const div = pow10(this.s - digits);
      let q = this.u / div;
      const r = this.u % div;
      if ((r < 0n ? -r : r) * 2n >= div) q += this.u < 0n ? -1n : 1n;
      return new Dec(q * pow10(-digits), 0);
    }
    return Dec.fromDecimal(this.toDecimal().toDecimalPlaces(digits, Decimal.ROUND_HALF_UP), Math.max(digits, 0));
  }
  floor(): Dec {
    return Dec.fromDecimal(this.toDecimal().floor(), 0);
  }
  ceil(): Dec {
    return Dec.fromDecimal(this.toDecimal().ceil(), 0);
  }

  toNumber(): number {
    return Number(this.toString());
  }

  /** Canonical text (trailing zeros removed) for equality keys: 1.50 and 1.5 are one value. */
  key(): string {
    let u = this.u;
    let s = this.s;
    while (s > 0 && u % 10n === 0n) {
      u /= 10n;
      s--;
    }
    return new Dec(u, s).toString();
  }

  toString(): string {
    const neg = this.u < 0n;
    let digits = (neg ? -this.u : this.u).toString();
    if (this.s === 0) return neg ? "-" + digits : digits;
    if (digits.length <= this.s) digits = "0".repeat(this.s - digits.length + 1) + digits;
    const out = digits.slice(0, digits.length - this.s) + "." + digits.slice(digits.length - this.s);
    return neg ? "-" + out : out;
  }
}

function digits(u: bigint): number {
  return (u < 0n ? -u : u).toString().length;
}
/** Weight of the leading base-10000 digit, as Postgres numeric stores it. */
function weight(u: bigint, s: number): number {
  if (u === 0n) return 0;
  return Math.floor((digits(u) - 1 - s) / 4);
}
/** The leading base-10000 digit (0..9999). */
function firstDigit(u: bigint, s: number): number {
  if (u === 0n) return 0;
  const shift = s + 4 * weight(u, s);
  const a = u < 0n ? -u : u;
  return Number(shift >= 0 ? a / pow10(shift) : a * pow10(-shift));
}
