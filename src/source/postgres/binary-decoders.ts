/**
 * Binary-format value decoding (pgoutput `binary 'true'`, PostgreSQL 14+), giving exactly the
 * values the text decoders give (type-decoders.ts): int8 as bigint, numeric as the decimal
 * string Postgres prints (NaN, ±Infinity), float4 as the double of its shortest text, dates
 * and timestamps as their ISO text (µs kept, BC, ±infinity; the session runs in UTC).
 * pgoutput sends every column with a send function in binary, so the source only asks for
 * binary when every captured column has a decoder here (see TypeDecoders.hasBinary).
 */
import { boundsFromDims, withBounds } from "../../array-bounds.ts";
import { realValue } from "../../expr/real.ts";
export type BinaryDecoder = (b: Buffer, start: number, end: number) => unknown;

const utf8: BinaryDecoder = (b, s, e) => b.toString("utf8", s, e);
const bool: BinaryDecoder = (b, s) => b[s] === 1;
const int2: BinaryDecoder = (b, s) => b.readInt16BE(s);
const int4: BinaryDecoder = (b, s) => b.readInt32BE(s);
const uint4: BinaryDecoder = (b, s) => b.readUInt32BE(s);
const int8: BinaryDecoder = (b, s) => b.readBigInt64BE(s);
const float8: BinaryDecoder = (b, s) => b.readDoubleBE(s);
const bytea: BinaryDecoder = (b, s, e) => new Uint8Array(b.subarray(s, e));
// jsonb: a format version byte (1), then the same text jsonb_out prints.
const jsonb: BinaryDecoder = (b, s, e) => b.toString("utf8", s + 1, e);

/**
 * float4 → the double Number() makes of Postgres' text for it: float4out's digits (realValue), not
 * merely the shortest that reads back (1234567.25 prints 1234567.2, which toPrecision made 1234567.3).
 */
const float4: BinaryDecoder = (b, s) => realValue(b.readFloatBE(s));

const hex = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const uuid: BinaryDecoder = (b, s) => {
  let out = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out += "-";
    out += hex[b[s + i]];
  }
  return out;
};

/** numeric: ndigits, weight, sign, dscale, then base-10000 digits; printed like numeric_out. */
const numeric: BinaryDecoder = (b, s) => {
  const ndigits = b.readInt16BE(s);
  const weight = b.readInt16BE(s + 2);
  const sign = b.readUInt16BE(s + 4);
  const dscale = b.readInt16BE(s + 6);
  if (sign === 0xc000) return "NaN";
  if (sign === 0xd000) return "Infinity";
  if (sign === 0xf000) return "-Infinity";
  const digit = (i: number) => (i >= 0 && i < ndigits ? b.readInt16BE(s + 8 + 2 * i) : 0);
  let out = sign === 0x4000 ? "-" : "";
  if (weight < 0) out += "0";
  else {
    out += String(digit(0));
    for (let i = 1; i <= weight; i++) out += String(digit(i)).padStart(4, "0");
  }
  if (dscale > 0) {
    let frac = "";
    for (let i = weight + 1; frac.length < dscale; i++) frac += String(digit(i)).padStart(4, "0");
    out += "." + frac.slice(0, dscale);
  }
  return out;
};

/** Julian day → [year, month, day], proleptic Gregorian (Postgres' j2date). Year <= 0 is BC. */
function j2date(jd: number): [number, number, number] {
  let julian = jd + 32044;
  let quad = Math.floor(julian / 146097);
  const extra = (julian - quad * 146097) * 4 + 3;
  julian += 60 + quad * 3 + Math.floor(extra / 146097);
  quad = Math.floor(julian / 1461);
  julian -= quad * 1461;
  let y = Math.floor((julian * 4) / 1461);
  julian = (y !== 0 ? (julian + 305) % 365 : (julian + 306) % 366) + 123;
  y += quad * 4;
  const q = Math.floor((julian * 2141) / 65536);
  return [y - 4800, ((q + 10) % 12) + 1, julian - Math.floor((7834 * q) / 256)];
}

const POSTGRES_EPOCH_JDATE = 2451545;
const pad2 = (n: number) => (n < 10 ? "0" : "") + n;

/** "YYYY-MM-DD" and whether it is BC (printed after the time, as Postgres does). */
function dateText(days: number): [string, boolean] {
  const [y, m, d] = j2date(days + POSTGRES_EPOCH_JDATE);
  const bc = y <= 0;
  return [`${String(bc ? 1 - y : y).padStart(4, "0")}-${pad2(m)}-${pad2(d)}`, bc];
}

/** "HH:MM:SS" plus the fraction without trailing zeros. */
function timeText(us: number): string {
  const secs = Math.floor(us / 1_000_000);
  const frac = us - secs * 1_000_000;
  let out = `${pad2(Math.floor(secs / 3600))}:${pad2(Math.floor(secs / 60) % 60)}:${pad2(secs % 60)}`;
  if (frac) out += "." + String(frac).padStart(6, "0").replace(/0+$/, "");
  return out;
}

const date: BinaryDecoder = (b, s) => {
  const days = b.readInt32BE(s);
  if (days === 0x7fffffff) return "infinity";
  if (days === -0x80000000) return "-infinity";
  const [d, bc] = dateText(days);
  return bc ? `${d} BC` : d;
};

const DAY_US = 86_400_000_000n;
const TS_INFINITY = 0x7fffffffffffffffn;
const TS_MINUS_INFINITY = -0x8000000000000000n;

function timestampText(us: bigint, zone: string): string {
  if (us === TS_INFINITY) return "infinity";
  if (us === TS_MINUS_INFINITY) return "-infinity";
  let days = us / DAY_US;
  let rest = us - days * DAY_US;
  if (rest < 0n) (days -= 1n), (rest += DAY_US);
  const [d, bc] = dateText(Number(days));
  return `${d} ${timeText(Number(rest))}${zone}${bc ? " BC" : ""}`;
}

const timestamp: BinaryDecoder = (b, s) => timestampText(b.readBigInt64BE(s), "");
// The replication session runs with TimeZone=UTC, so timestamptz_out prints "+00".
const timestamptz: BinaryDecoder = (b, s) => timestampText(b.readBigInt64BE(s), "+00");
const time: BinaryDecoder = (b, s) => timeText(Number(b.readBigInt64BE(s)));

/** timetz: µs of the day, then the zone in seconds west of UTC; printed "+HH[:MM[:SS]]". */
const timetz: BinaryDecoder = (b, s) => {
  const t = timeText(Number(b.readBigInt64BE(s)));
  const west = b.readInt32BE(s + 8);
  const east = Math.abs(west);
  let z = (west <= 0 ? "+" : "-") + pad2(Math.floor(east / 3600));
  const mm = Math.floor(east / 60) % 60;
  const ss = east % 60;
  if (mm || ss) z += ":" + pad2(mm);
  if (ss) z += ":" + pad2(ss);
  return t + z;
};

/** Built-in types with a binary decoder (by OID). */
export const BINARY_SCALAR: Record<number, BinaryDecoder> = {
  16: bool,
  17: bytea,
  19: utf8, // name
  20: int8,
  21: int2,
  23: int4,
  25: utf8, // text
  26: uint4, // oid
  114: utf8, // json: sent as its text
  700: float4,
  701: float8,
  1042: utf8, // bpchar (blank-padded, as text gives it)
  1043: utf8, // varchar
  1082: date,
  1083: time,
  1114: timestamp,
  1184: timestamptz,
  1266: timetz,
  1700: numeric,
  2950: uuid,
  3802: jsonb,
};

/** Binary array (array_send): dimensions, a null flag, element OID, then length-prefixed elements; nested like the text parser makes it. */
export function binaryArray(elem: BinaryDecoder): BinaryDecoder {
  return (b, s) => {
    const ndim = b.readInt32BE(s);
    if (ndim === 0) return [];
    const dims: number[] = [];
    const lowers: number[] = [];
    for (let d = 0; d < ndim; d++) dims.push(b.readInt32BE(s + 12 + 8 * d)), lowers.push(b.readInt32BE(s + 16 + 8 * d));
    let at = s + 12 + 8 * ndim;
    const level = (d: number): unknown[] => {
      const out: unknown[] = [];
      for (let i = 0; i < dims[d]; i++) {
        if (d + 1 < ndim) out.push(level(d + 1));
        else {
          const len = b.readInt32BE(at);
          at += 4;
          if (len < 0) out.push(null);
          else {
            out.push(elem(b, at, at + len));
            at += len;
          }
        }
      }
      return out;
    };
    const arr = level(0);
    return lowers.some((l) => l !== 1) ? withBounds(arr, boundsFromDims(dims, lowers)) : arr;
  };
}

export const binaryText: BinaryDecoder = utf8;
