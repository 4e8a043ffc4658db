import type { Column } from "../../types.ts";
import type { ChunkSide, Range } from "./types.ts";

/**
 * One text per value, the same whichever database it was read from, for sinks that type values
 * differently from Postgres (SQLite, MySQL). Both sides go through it: the sink's stored values
 * as its driver returns them, and the source's values after the sink's own write conversion
 * (what the sink would store). Exact: int8 and numeric stay text or bigint, never a float.
 */

/** A source value the sink cannot hold (the sink sent that record to the DLQ): never equal to anything stored. */
export class Unstorable {
  constructor(readonly reason: string) {}
}

const NUMERIC = 1700;
const FLOAT4 = 700;
const FLOAT8 = 701;
const BPCHAR = 1042;
const JSON_OIDS = new Set([114, 3802]);
const TIME_OIDS = new Set([1083, 1114, 1184]);

export function canonValue(v: unknown, c: Column): string {
  if (v === null || v === undefined) return "\\N";
  if (v instanceof Unstorable) return `\\unstorable:${v.reason}`;
  if (v instanceof Uint8Array) return "\\x" + Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex");
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "boolean") return v ? "1" : "0";
  if (typeof v === "number") {
    // FLOAT/DOUBLE print fewer digits in MySQL than Postgres sends: floats compare to their precision.
    const x = c.typeOid === FLOAT4 ? Number(Math.fround(v).toPrecision(6)) : c.typeOid === FLOAT8 ? Number(v.toPrecision(15)) : v;
    return Object.is(x, -0) ? "0" : String(x);
  }
  // MySQL 8 hands JSON columns over parsed; MariaDB (JSON = LONGTEXT) and SQLite as text.
  if (typeof v === "object") return canonJson(JSON.stringify(v));
  const s = String(v);
  if (c.typeOid === NUMERIC) return canonDecimal(s);
  if (JSON_OIDS.has(c.typeOid) || c.typeName?.endsWith("[]")) return canonJson(s);
  if (TIME_OIDS.has(c.typeOid)) return s.replace(/(\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?/, (_m, t: string, f?: string) => `${t}.${(f ?? "").padEnd(6, "0")}`);
  if (c.typeOid === BPCHAR) return s.replace(/ +$/, ""); // MySQL CHAR(n) drops the padding Postgres keeps
  return s;
}

/** "12.3400" → "12.34", "-0.00" → "0", "5." → "5": DECIMAL(p,s) pads the scale, numeric keeps what was written. */
export function canonDecimal(s: string): string {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(s.trim());
  if (!m) return s; // NaN, Infinity, exponent forms: as they are
  const int = m[2].replace(/^0+(?=\d)/, "") || "0";
  const frac = (m[3] ?? "").replace(/0+$/, "");
  const body = frac ? `${int}.${frac}` : int;
  return m[1] === "-" && body !== "0" ? `-${body}` : body;
}

/**
 * JSON text with object keys sorted and no whitespace: jsonb, MySQL's JSON and the text as the
 * sink wrote it differ in spacing and key order. Number literals are kept as text (canonDecimal),
 * never parsed into floats. Text that is not JSON is returned as it is.
 */
export function canonJson(text: string): string {
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const value = (): string => {
    ws();
    const ch = text[i];
    if (ch === "{") {
      i++;
      const entries: [string, string][] = [];
      ws();
      if (text[i] === "}") return i++, "{}";
      for (;;) {
        ws();
        const k = str();
        ws();
        if (text[i++] !== ":") throw new Error("json");
        entries.push([k, value()]);
        ws();
        if (text[i] === ",") i++;
        else if (text[i++] === "}") break;
        else throw new Error("json");
      }
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${k}:${v}`).join(",")}}`;
    }
    if (ch === "[") {
      i++;
      const items: string[] = [];
      ws();
      if (text[i] === "]") return i++, "[]";
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ",") i++;
        else if (text[i++] === "]") break;
        else throw new Error("json");
      }
      return `[${items.join(",")}]`;
    }
    if (ch === '"') return str();
    const m = /^(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!m) throw new Error("json");
    i += m[0].length;
    return /^-?\d+(\.\d+)?$/.test(m[0]) ? canonDecimal(m[0]) : m[0].toLowerCase();
  };
  const str = (): string => {
    const m = /^"(?:[^"\\]|\\.)*"/s.exec(text.slice(i));
    if (!m) throw new Error("json");
    i += m[0].length;
    return JSON.stringify(JSON.parse(m[0])); // one spelling of each escape
  };
  try {
    const out = value();
    ws();
    return i === text.length ? out : text;
  } catch {
    return text;
  }
}

/** Rows of a range, each as its stored-form values in `cols` order. */
export type Scan = (r: Range, each: (values: unknown[]) => void) => Promise<void>;

/**
 * A ChunkSide computed in TypeScript: each row becomes its canonical text, hashed (64-bit
 * wyhash); a chunk's checksum is the sum of its rows' hashes, so row order does not matter.
 * `key`: indexes of the key columns in `cols` (empty: the whole row identifies it).
 */
export function canonicalSide(cols: Column[], key: number[], scan: Scan): ChunkSide {
  const canon = (values: unknown[]) => values.map((v, i) => canonValue(v, cols[i]));
  const identity = (vals: string[]) => `(${(key.length ? key.map((i) => vals[i]) : vals).join(",")})`;
  return {
    async sum(r) {
      let n = 0;
      let sum = 0n;
      await scan(r, (values) => {
        n++;
        sum += Bun.hash.wyhash(JSON.stringify(canon(values)));
      });
      return { n, sum: sum.toString() };
    },
    async rows(r) {
      const m = new Map<string, number>();
      await scan(r, (values) => {
        const vals = canon(values);
        const k = `${identity(vals)}\u0000${Bun.hash.wyhash(JSON.stringify(vals))}`;
        m.set(k, (m.get(k) ?? 0) + 1);
      });
      return m;
    },
  };
}
