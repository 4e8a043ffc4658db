/**
 * A small seeded PRNG (sfc32) for the hot paths: faker is fine for names and cities but too slow
 * for 20,000+ rows/s of numbers, and one seeded stream keeps `--seed` runs identical.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // splitmix32 expands one 32-bit seed into the four state words.
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [min, max] (inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)];
  }

  /** A value picked by weight: `weighted([["a", 3], ["b", 1]])` gives "a" three times as often. */
  weighted<T>(table: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, w] of table) total += w;
    let r = this.float() * total;
    for (const [v, w] of table) {
      r -= w;
      if (r < 0) return v;
    }
    return table[table.length - 1][0];
  }

  /** Roughly normal (sum of three uniforms), clamped to [min, max]. */
  around(mean: number, spread: number, min: number, max: number): number {
    const z = (this.float() + this.float() + this.float() - 1.5) / 1.5;
    return Math.min(max, Math.max(min, mean + z * spread));
  }

  /** 32 lowercase hex digits, the shape of Olist ids. */
  hex32(): string {
    let s = "";
    for (let i = 0; i < 4; i++) s += this.u32().toString(16).padStart(8, "0");
    return s;
  }

  /** A version-4 UUID drawn from this stream (crypto.randomUUID would ignore --seed). */
  uuid(): string {
    const h = this.hex32();
    const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
}

/** Zipf-distributed index in [0, n): index 0 is the most popular. Precomputes the CDF once. */
export class Zipf {
  private cdf: Float64Array;

  constructor(n: number, s = 1.1) {
    this.cdf = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      sum += 1 / Math.pow(i + 1, s);
      this.cdf[i] = sum;
    }
    for (let i = 0; i < n; i++) this.cdf[i] /= sum;
  }

  get size(): number {
    return this.cdf.length;
  }

  sample(rng: Rng): number {
    const r = rng.float();
    let lo = 0;
    let hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cdf[mid] < r) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** A numeric seed from `--seed` text: numbers as they are, anything else hashed (FNV-1a). */
export function seedNumber(seed: string): number {
  if (/^\d+$/.test(seed)) return Number(BigInt(seed) % 4294967296n);
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

/** Cents (an integer) as a NUMERIC(10,2) text, so money never goes through a float. */
export function cents(c: number): string {
  const neg = c < 0;
  const a = Math.abs(Math.round(c));
  return `${neg ? "-" : ""}${Math.floor(a / 100)}.${String(a % 100).padStart(2, "0")}`;
}
